"""How long-running datagen steps report progress, without depending on a UI library."""

from __future__ import annotations

from typing import Protocol


class ProgressSink(Protocol):
    """Receives step events; the CLI renders them as rich progress bars."""

    def begin(self, step: str, total: int | None = None) -> None: ...

    def advance(self, step: str, amount: int = 1) -> None: ...

    def end(self, step: str) -> None: ...


class NoProgress:
    """The silent default."""

    def begin(self, step: str, total: int | None = None) -> None:
        pass

    def advance(self, step: str, amount: int = 1) -> None:
        pass

    def end(self, step: str) -> None:
        pass
