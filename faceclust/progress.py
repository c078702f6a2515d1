"""The one progress callback type used by the library, the command line, the dashboard and tests."""

from typing import Protocol


class Progress(Protocol):
    def __call__(self, stage: str, done: int, total: int) -> None:
        """Report that `done` of `total` units of `stage` are finished (`total` 0 when unknown)."""


def no_progress(stage: str, done: int, total: int) -> None:
    """A progress callback that ignores every report."""
