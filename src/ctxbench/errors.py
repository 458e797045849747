"""Errors that map to the CLI's exit codes.

Every user-facing failure is one of these, so the CLI prints one clear message and exits with
the code CI gates on (2 usage/config, 3 infrastructure); anything else is a bug and gets a
traceback.
"""

from __future__ import annotations


class CtxbenchError(Exception):
    """Base of all expected failures; ``exit_code`` is what the CLI exits with."""

    exit_code = 1


class UsageError(CtxbenchError):
    """Bad input: an option, a file, a key or a value that is not allowed (exit 2)."""

    exit_code = 2


class InfraError(CtxbenchError):
    """The environment failed: server unreachable, missing extension, disk, process (exit 3)."""

    exit_code = 3


class NotOwnedError(UsageError):
    """A destructive action was refused because ctxbench did not create the target."""
