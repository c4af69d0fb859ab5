"""Progress display and tables for every long command, through one library (rich).

A display is drawn on stderr, so stdout stays the command's answer (JSON, tables), and only when asked
(``enabled``, i.e. no ``--no-progress``) and when stderr is a terminal: a pipe, a log file or a CI job
gets nothing. Disabled, every call here is a no-op, so callers never branch on it.

    with bars(enabled) as b:
        task = b.add("load", total=len(batches), unit="rows")
        for batch in batches:
            ...
            b.advance(task, len(batch))

    for item in track(items, "segment", enabled=progress): ...

Tables go through :func:`table` (``rich.table.Table``): columns are measured in terminal cells, so
Chinese labels (two cells per character) stay aligned where f-string padding does not.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TextIO, TypeVar

T = TypeVar("T")


def wanted(enabled: bool = True, stream: TextIO | None = None) -> bool:
    """Whether to draw: asked for, and ``stream`` (default stderr) is a terminal."""
    stream = sys.stderr if stream is None else stream
    return bool(enabled) and bool(getattr(stream, "isatty", lambda: False)())


class Bars:
    """Zero or more progress bars in one live display; a no-op when not :func:`wanted`.

    A bar with a ``total`` shows done/total, the rate and the time remaining; without one (not known yet)
    it shows the count and the elapsed time. ``update(task, total=...)`` sets or raises a total as it
    becomes known (a crawl discovering pages)."""

    def __init__(self, enabled: bool = True, transient: bool = False, stream: TextIO | None = None):
        self.on = wanted(enabled, stream)
        self._progress = None
        if self.on:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TaskProgressColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                SpinnerColumn(), TextColumn("[bold]{task.description}[/]"), BarColumn(bar_width=None),
                MofNCompleteColumn(), TextColumn("{task.fields[unit]}"), TaskProgressColumn(),
                TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                console=Console(file=stream or sys.stderr), transient=transient)

    def __enter__(self) -> Bars:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()

    def add(self, description: str, total: float | None = None, unit: str = "", info: str = "") -> int:
        if self._progress is None:
            return -1
        return self._progress.add_task(description, total=total, unit=unit, info=info)

    def advance(self, task: int, n: float = 1) -> None:
        if self._progress is not None:
            self._progress.advance(task, n)

    def update(self, task: int, *, completed: float | None = None, total: float | None = None,
               description: str | None = None, info: str | None = None) -> None:
        if self._progress is None:
            return
        fields: dict[str, Any] = {} if info is None else {"info": info}
        self._progress.update(task, completed=completed, total=total, description=description, **fields)

    def remove(self, task: int) -> None:
        if self._progress is not None:
            self._progress.remove_task(task)


def bars(enabled: bool = True, transient: bool = False, stream: TextIO | None = None) -> Bars:
    return Bars(enabled, transient, stream)


class Tracked(Iterator[T]):
    """An iterator that advances a bar per item; ``info(...)`` sets the text at the bar's end (a loss)."""

    def __init__(self, items: Iterable[T], description: str, total: float | None, enabled: bool, unit: str,
                 transient: bool):
        if total is None and hasattr(items, "__len__"):
            total = len(items)  # type: ignore[arg-type]
        self._it = iter(items)
        self._bars = Bars(enabled, transient)
        self._task = self._bars.add(description, total, unit)
        self._started = self._closed = False

    def __iter__(self) -> Tracked[T]:
        return self

    def __next__(self) -> T:
        if not self._started:
            self._bars.__enter__()
            self._started = True
        elif not self._closed:
            self._bars.advance(self._task)
        try:
            return next(self._it)
        except StopIteration:
            self.close()
            raise

    def info(self, text: str) -> None:
        self._bars.update(self._task, info=text)

    def close(self) -> None:
        """Stop the display (the loop may end early, by ``break``, without exhausting the iterator)."""
        if self._started and not self._closed:
            self._closed = True
            self._bars.__exit__(None, None, None)

    def __del__(self) -> None:
        self.close()


def track(items: Iterable[T], description: str, *, total: float | None = None, enabled: bool = True,
          unit: str = "", transient: bool = False) -> Tracked[T]:
    """Iterate ``items`` with a bar (each item counts one when the next is asked for, so a bar reaches its
    total when the last item's work is done)."""
    return Tracked(items, description, total, enabled, unit, transient)


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str | None = None,
          right: Sequence[int] = ()):
    """A ``rich.table.Table``; columns whose index is in ``right`` are right-aligned (numbers)."""
    from rich.table import Table

    t = Table(title=title, title_justify="left", header_style="bold")
    for i, name in enumerate(header):
        t.add_column(name, justify="right" if i in right else "left")
    for row in rows:
        t.add_row(*(str(c) for c in row))
    return t


def print_table(t, stream: TextIO | None = None) -> None:
    """Print a table on ``stream`` (default stdout), at its natural width even when piped."""
    from rich.console import Console

    out = stream or sys.stdout
    Console(file=out, width=None if wanted(True, out) else 200, highlight=False).print(t)
