"""Rich progress display and summary table for crawls on the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ddikg.crawler.summary import CrawlSummary


class RichProgress:
    """Counts pages, drugs and errors as the crawl reports them (the total is unknown up front)."""

    def __init__(self, console: Console | None = None):
        self.progress = Progress(SpinnerColumn(), TextColumn("[bold]crawl[/]"), BarColumn(bar_width=None),
                                 TextColumn("{task.fields[pages]} pages · {task.fields[drugs]} drugs · "
                                            "{task.fields[errors]} errors · {task.fields[last]}"),
                                 TimeElapsedColumn(), console=console or Console(stderr=True), transient=False)
        self.task = None

    def __enter__(self) -> RichProgress:
        self.progress.start()
        self.task = self.progress.add_task("crawl", total=None, pages=0, drugs=0, errors=0, last="")
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def update(self, event: dict) -> None:
        last = event.get("name") or event.get("reason") or event.get("url") or ""
        self.progress.update(self.task, pages=event.get("pages", 0), drugs=event.get("drugs", 0),
                             errors=event.get("errors", 0), last=str(last)[:40])


def summary_table(summary: CrawlSummary) -> Table:
    status = "finished" if summary.finished else f"stopped: {summary.stopped_reason}"
    table = Table(title=f"crawl {summary.run_id} ({status}{', resumed' if summary.resumed else ''})", min_width=64)
    table.add_column("what")
    table.add_column("count", justify="right")
    for label, value in (("pages fetched", summary.pages_fetched), ("  of which retried", summary.pages_retried),
                         ("pages replayed (resume)", summary.pages_replayed), ("drugs", summary.drugs),
                         ("new", summary.new), ("changed", summary.changed), ("unchanged", summary.unchanged),
                         ("retries", summary.retries)):
        table.add_row(label, str(value))
    for reason, n in sorted(summary.errors.items()):
        table.add_row(f"[red]error: {reason}[/]", str(n))
    table.add_row("stop reason", summary.stopped_reason or "-")
    table.add_row("seconds", f"{summary.seconds:.1f}")
    table.caption = f"out: {summary.out}" + (f" · rejects: {summary.rejects}" if summary.rejects else "")
    return table
