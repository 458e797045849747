"""Composition: the run lifecycles (phase run, vector study, load run, scale study).

The only package that wires db → measure/load/vector → results → analysis → report together.
"""
