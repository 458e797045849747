"""Help text as written: typer's rich help shows an on/off flag as taking a ``<bool>`` value
(``--strict <bool>``, though ``--strict yes`` is an error) and reads square brackets in help
text as rich markup (``its [load] table`` loses ``[load]``). Applied to the built click command
tree before it runs."""

from __future__ import annotations

from typing import Any

from rich.markup import escape


def _no_value(option: Any) -> Any:
    if option is not None and getattr(option, "is_flag", False) and option.metavar is None:
        option.metavar = ""  # a flag takes no value: show none
    return option


def polish(command: Any) -> Any:
    """Fix the help of ``command`` (a typer/click command or group) and its subcommands.
    Duck-typed: typer ships its own click classes."""
    seen: set[int] = set()

    def walk(cmd: Any) -> None:
        if id(cmd) in seen:
            return
        seen.add(id(cmd))
        for text_attr in ("help", "short_help", "epilog"):
            text = getattr(cmd, text_attr, None)
            if isinstance(text, str) and "[" in text:
                setattr(cmd, text_attr, escape(text))
        original = cmd.get_help_option
        cmd.get_help_option = lambda ctx, _orig=original: _no_value(_orig(ctx))
        for param in cmd.params:
            _no_value(param)
            help_text = getattr(param, "help", None)
            if isinstance(help_text, str) and "[" in help_text:
                param.help = escape(help_text)
        if isinstance(getattr(cmd, "commands", None), dict):
            for sub in cmd.commands.values():
                walk(sub)

    walk(command)
    return command
