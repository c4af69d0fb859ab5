"""Rich progress display and summary table for crawls on the terminal."""

from __future__ import annotations

from rich.table import Table

from ddikg.crawler.summary import CrawlSummary
from ddikg.progress import bars


class RichProgress:
    """Pages fetched against the pages known so far (fetched + queued: the total grows as list pages reveal
    drugs), with the rate, ETA, drugs and errors; drawn by :mod:`ddikg.progress` (stderr, terminals only)."""

    def __init__(self, enabled: bool = True):
        self.bars = bars(enabled)
        self.task = -1

    def __enter__(self) -> RichProgress:
        self.bars.__enter__()
        self.task = self.bars.add("crawl", total=None, unit="pages")
        return self

    def __exit__(self, *exc) -> None:
        self.bars.__exit__(*exc)

    def update(self, event: dict) -> None:
        last = event.get("name") or event.get("reason") or event.get("url") or ""
        self.bars.update(self.task, completed=event.get("pages", 0), total=event.get("total") or None,
                         info=f"{event.get('drugs', 0)} drugs · {event.get('errors', 0)} errors · {str(last)[:30]}")


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
