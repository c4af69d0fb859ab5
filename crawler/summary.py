"""The result of one crawl, as the spider writes it and :func:`ddikg.crawler.api.run_crawl` returns it."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

# Reject reasons that mean a page was lost to a fault that retries did not overcome (the site or the
# network failed), as opposed to a page that is what it is (404, login page, robots.txt, no sections).
# A crawl with any of them is incomplete: ``ddikg crawl`` exits 3 and run_crawl raises CrawlIncomplete.
TRANSIENT_REASONS = frozenset({"download_error", "truncated_html", "truncated_listing"})
TRANSIENT_HTTP = frozenset({408, 429, 500, 502, 503, 504, 522, 524})

# Stops that leave the queue for a later resume and are not failures in themselves.
RESUMABLE_STOPS = frozenset({"rate_limited", "closespider_pagecount", "shutdown"})


def is_lost(reason: str) -> bool:
    """Whether a reject reason is a page lost to a transient fault (see :data:`TRANSIENT_REASONS`)."""
    if reason in TRANSIENT_REASONS:
        return True
    return reason.startswith("http_") and reason[5:].isdigit() and int(reason[5:]) in TRANSIENT_HTTP


class CrawlSummary(BaseModel):
    run_id: str
    job_key: str = ""  # what was asked for (site, profile, seeds, ids); keys the resumable queue
    resumed: bool = False  # this process continued a crawl that had stopped or was killed
    pages_fetched: int = 0  # HTTP responses received by this process, retried ones and robots.txt included
    pages_retried: int = 0  # of those, responses answered by a retry (429/503/..., truncated pages)
    pages_replayed: int = 0  # pages a resumed run had parsed before, replayed from the state, not fetched
    drugs: int = 0  # drug records in the output (the whole run, both parts of a resumed one)
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    errors: dict[str, int] = Field(default_factory=dict)  # reason -> pages not turned into records
    retries: int = 0  # retry requests scheduled (pages and connection failures)
    stopped_reason: str | None = None  # None when the crawl finished; e.g. "rate_limited", "site_unreachable"
    stopped_detail: str = ""
    finished: bool = False
    out: Path
    rejects: Path | None = None
    seconds: float = 0.0

    @property
    def n_errors(self) -> int:
        return sum(self.errors.values())

    @property
    def lost(self) -> dict[str, int]:
        """Reject reasons of pages lost to transient faults, with counts."""
        return {r: n for r, n in self.errors.items() if is_lost(r)}

    @property
    def problem(self) -> str | None:
        """Why this crawl counts as failed (None when it does not): nothing crawled, or pages lost."""
        lost = self.lost
        if self.stopped_reason == "site_unreachable":
            return (f"site unreachable ({self.stopped_detail or 'no connection'}); "
                    f"{self.drugs} drugs, {self.pages_fetched} pages fetched; rerun to resume")
        if self.drugs == 0:
            errs = ", ".join(f"{r} {n}" for r, n in sorted(self.errors.items())) or "none"
            return f"nothing crawled: 0 drugs from {self.pages_fetched} pages fetched (errors: {errs})"
        if lost:
            what = ", ".join(f"{r} {n}" for r, n in sorted(lost.items()))
            return (f"{sum(lost.values())} pages lost after retries ({what}); {self.drugs} drugs crawled, "
                    f"{self.pages_fetched} pages fetched")
        return None
