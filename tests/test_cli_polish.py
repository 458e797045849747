"""CLI polish: flags shown as flags, brackets in help kept, plain progress lines in logs."""

from __future__ import annotations

import io

import pytest
import typer
from cli_helpers import cli
from rich.console import Console

from ctxbench.cli import app
from ctxbench.cli.helpfix import polish
from ctxbench.cli.progress import PlainProgress, progress_for


def _commands(cmd, path=()):  # type: ignore[no-untyped-def]
    yield path
    for name, sub in (getattr(cmd, "commands", None) or {}).items():
        yield from _commands(sub, (*path, name))


def test_no_help_shows_a_flag_as_taking_a_value(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture) -> None:
    paths = list(_commands(polish(typer.main.get_command(app))))
    assert ("load",) in paths and ("db", "url") in paths and len(paths) > 15
    monkeypatch.setenv("COLUMNS", "200")
    for path in paths:
        code, out = cli(monkeypatch, capsys, *path, "--help")
        assert code == 0, path
        assert "<bool>" not in out, path
        assert "--help Show this message" in out, path  # squashed: nothing between
    code, out = cli(monkeypatch, capsys, "db", "url", "--help")
    assert "--show-password Print the password" in out
    code, out = cli(monkeypatch, capsys, "db", "url", "--show-password", "yes")
    assert code == 2 and "unexpected extra argument" in out


def test_square_brackets_in_help_are_kept(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    code, out = cli(monkeypatch, capsys, "load", "--help")
    assert code == 0 and "its [load] table" in out


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_plain_progress_lines_with_eta() -> None:
    buf = io.StringIO()
    console = Console(file=buf, width=80, force_terminal=False)
    clock = Clock()
    p = PlainProgress(console, every_s=15, clock=clock)
    p.start("phase after_analyze.warm", 200)
    for _ in range(200):
        clock.t += 0.5
        p.advance()
    lines = buf.getvalue().splitlines()
    assert lines[0] == "phase after_analyze.warm: 0/200"
    assert "\r" not in buf.getvalue() and "\x1b" not in buf.getvalue()
    # every 15 s or quarter, each with an ETA until the end; never wrapped or cut
    assert lines[1] == "phase after_analyze.warm: 30/200 (15%), 15s elapsed, ETA 1m25s"
    assert any(line.startswith("phase after_analyze.warm: 50/200 (25%)") for line in lines)
    assert lines[-1] == "phase after_analyze.warm: 200/200 (100%), 1m40s elapsed"
    assert 8 <= len(lines) <= 12


def test_progress_is_plain_when_not_a_terminal() -> None:
    console = Console(file=io.StringIO(), force_terminal=False)
    with progress_for(console) as p:
        assert isinstance(p, PlainProgress)
    term = Console(file=io.StringIO(), force_terminal=True)
    with progress_for(term) as p:
        assert not isinstance(p, PlainProgress)
