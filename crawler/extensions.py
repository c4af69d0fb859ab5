"""Run bookkeeping around one spider run: resume-or-start, progress events, output files and summary."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from scrapy import signals
from scrapy.exceptions import NotConfigured

from ddikg.crawler.state import CrawlState
from ddikg.crawler.summary import CrawlSummary
from ddikg.jsonl import write_jsonl

PROGRESS_PREFIX = "@@ddikg-progress "


class CrawlLocked(RuntimeError):
    """Another crawl is using the same crawl state (two crawls would corrupt each other's queue)."""


def _exclusive_lock(path: Path):
    """Hold an exclusive lock on ``path`` for the life of the returned file (released on exit or crash)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    fh = path.open("a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise CrawlLocked(f"another crawl is running with the state in {path.parent} (lock {path})") from None
    return fh


class CrawlRun:
    """Opens the crawl state before the scheduler starts and closes the run when the spider closes.

    A run that stopped early (rate limit, Ctrl-C, page limit) is resumed: its JOBDIR keeps the pending
    requests and the seen-request filter. A run after a finished one starts afresh, so the JOBDIR of
    the finished run is cleared (otherwise its seen-request filter would skip every page).
    """

    def __init__(self, crawler):
        s = crawler.settings
        state_dir = s.get("DDIKG_STATE_DIR")
        self.out = s.get("DDIKG_OUT")
        if not state_dir or not self.out:
            raise NotConfigured("DDIKG_STATE_DIR and DDIKG_OUT must be set")
        self.crawler = crawler
        self.out = Path(self.out)
        self.rejects = Path(s.get("DDIKG_REJECTS") or self.out.with_name(
            self.out.name.removesuffix(".jsonl") + ".rejects.jsonl"))
        self.summary_path = Path(s.get("DDIKG_SUMMARY") or Path(state_dir) / "last_summary.json")
        self.progress = s.getbool("DDIKG_PROGRESS")
        self.jobdir = s.get("JOBDIR")
        self._lock = _exclusive_lock(Path(state_dir) / "crawl.lock")
        self.state = CrawlState(state_dir)
        self.run_id, self.resumed = self.state.begin_run(out=str(self.out), rejects=str(self.rejects),
                                                         jobdir=str(self.jobdir or ""))
        if self.jobdir and not self.resumed and Path(self.jobdir).exists():
            shutil.rmtree(self.jobdir)
        self.started = time.monotonic()
        self.pages = self.drugs = self.errors = 0
        crawler.ddikg_run = self  # the pipeline and the spider find the run here

    @classmethod
    def from_crawler(cls, crawler):
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(ext.response_received, signal=signals.response_received)
        crawler.signals.connect(ext.item_scraped, signal=signals.item_scraped)
        return ext

    def spider_opened(self, spider) -> None:
        spider.logger.info("crawl run %s (%s), output %s", self.run_id,
                           "resumed" if self.resumed else "new", self.out)
        self._emit("start")

    def response_received(self, response, request, spider) -> None:
        self.pages += 1
        self._emit("page", url=response.url, status=response.status)

    def item_scraped(self, item, response, spider) -> None:
        from ddikg.crawler.items import DrugItem, RejectItem

        if isinstance(item, DrugItem):
            self.drugs += 1
            self._emit("drug", drug_id=item.record.drug_id, name=item.record.name)
        elif isinstance(item, RejectItem):
            self.errors += 1
            self._emit("error", url=item.url, reason=item.reason)

    def _emit(self, event: str, **data) -> None:
        # One JSON line per event on stdout, read by ddikg.crawler.api.run_crawl for its progress display.
        if self.progress:
            payload = {"event": event, "pages": self.pages, "drugs": self.drugs, "errors": self.errors} | data
            sys.stdout.write(PROGRESS_PREFIX + json.dumps(payload, ensure_ascii=False) + "\n")
            sys.stdout.flush()

    def spider_closed(self, spider, reason) -> None:
        finished = reason == "finished"
        stopped = None if finished else (getattr(spider, "stop_reason", None) or reason)
        records = self.state.run_records(self.run_id)
        write_jsonl(self.out, records)
        errors = self.state.run_errors(self.run_id)
        if errors:
            write_jsonl(self.rejects, errors)
        else:
            self.rejects.unlink(missing_ok=True)
        changes, by_reason = self.state.run_counts(self.run_id)
        self.state.end_run(self.run_id, finished=finished, stopped_reason=stopped)
        self.state.close()
        self._lock.close()  # releases the lock
        stats = self.crawler.stats
        summary = CrawlSummary(
            run_id=self.run_id, resumed=self.resumed, pages_fetched=self.pages, drugs=len(records),
            new=changes.get("new", 0), changed=changes.get("changed", 0), unchanged=changes.get("unchanged", 0),
            errors=dict(by_reason), retries=int(stats.get_value("retry/count", 0) or 0),
            stopped_reason=stopped, finished=finished, out=self.out,
            rejects=self.rejects if errors else None, seconds=round(time.monotonic() - self.started, 3))
        self.summary_path.parent.mkdir(parents=True, exist_ok=True)
        self.summary_path.write_text(summary.model_dump_json(indent=2), encoding="utf-8")
        self._emit("closed", reason=reason)
        spider.logger.info("crawl %s: %s", "finished" if finished else f"stopped ({stopped})",
                           summary.model_dump_json())
