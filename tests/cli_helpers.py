"""Running the real `ctxbench` entry point in-process, as the CLI tests do."""

from __future__ import annotations

import sys

import pytest

from ctxbench.cli import main


def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str,
        squash: bool = True) -> tuple[int, str]:
    """Run main() (which maps errors to exit codes); return (code, stdout + stderr), with runs of
    whitespace squashed unless ``squash=False`` (rich wraps lines at the console width)."""
    monkeypatch.setattr(sys, "argv", ["ctxbench", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    captured = capsys.readouterr()
    out = captured.out + captured.err
    return int(exc.value.code or 0), " ".join(out.split()) if squash else out
