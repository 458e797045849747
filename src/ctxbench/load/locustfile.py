"""Locust entry point shipped inside the package (``ctxbench load`` runs this file).

``bench/locustfile.py`` in the repository is the same thing for the plain ``locust`` command.
"""

from ctxbench.load.locust_plugin import ContextApiUser, CtxbenchShape

__all__ = ["ContextApiUser", "CtxbenchShape"]
