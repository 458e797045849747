"""Deterministic, realistic Kubernaut-shaped data at any scale, loaded by binary COPY.

Entry points live in ``ctxbench.datagen.generator`` (``DatasetOptions``, ``seed_dataset``,
``current_dataset``, ``dataset_checksum``); the topic centroids that query samplers need are
in ``ctxbench.datagen.embeddings``. Distributions are documented in ``model``, ``timeline``,
``embeddings`` and ``parents``, and in the README's "Data generator" section.
"""
