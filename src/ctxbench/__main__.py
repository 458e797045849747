"""``python -m ctxbench`` is the ``ctxbench`` command."""

from ctxbench.cli import main

main()
