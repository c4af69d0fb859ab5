"""The result of one crawl, as the spider writes it and :func:`ddikg.crawler.api.run_crawl` returns it."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field


class CrawlSummary(BaseModel):
    run_id: str
    resumed: bool = False  # this process continued a crawl that had stopped
    pages_fetched: int = 0  # HTTP responses received by this process (robots.txt included)
    drugs: int = 0  # drug records in the output (the whole run, both parts of a resumed one)
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    errors: dict[str, int] = Field(default_factory=dict)  # reason -> pages not turned into records
    retries: int = 0
    stopped_reason: str | None = None  # None when the crawl finished; e.g. "rate_limited"
    finished: bool = False
    out: Path
    rejects: Path | None = None
    seconds: float = 0.0

    @property
    def n_errors(self) -> int:
        return sum(self.errors.values())
