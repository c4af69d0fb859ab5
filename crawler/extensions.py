"""Run bookkeeping around one spider run: job key, resume-or-start, progress events, output files, summary."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

from scrapy import signals
from scrapy.exceptions import NotConfigured

from ddikg.contracts import RawDrugRecord
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


def job_key(base_url: str, profile_name: str, profile_source: str, start_urls: list[str],
            drug_ids: list[str]) -> str:
    """What a crawl was asked for, as a short hash: the site, the profile (name and content), the seeds.

    A crawl resumes only a run of the same key, and each key has its own JOBDIR, so a crawl of another
    site (``--base-url``), profile or drug list never continues another's queue.
    """
    try:
        profile_sha = hashlib.sha256(Path(profile_source).read_bytes()).hexdigest()
    except OSError:
        profile_sha = ""
    asked = {"base_url": base_url.rstrip("/"), "profile": profile_name, "profile_sha256": profile_sha,
             "start_urls": sorted(start_urls), "drug_ids": sorted(drug_ids)}
    return hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()[:16]


class RecordAppender:
    """Appends one record per line as the crawl parses it, so a killed crawl keeps what it parsed.

    Each record is a single ``os.write`` of the complete line on an ``O_APPEND`` descriptor (no user-space
    buffer): a killed process loses no record it wrote, and another reader never sees half a line except
    where the machine itself stops mid-write. ``fsync`` after every ``fsync_every`` records (0: only at
    close) bounds what a power cut can lose; the crawl state (SQLite) holds every record anyway.
    """

    def __init__(self, path: Path, fsync_every: int):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.fsync_every, self.n = path, fsync_every, 0
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, record: RawDrugRecord) -> None:
        line = (record.to_json() + "\n").encode("utf-8")
        written = os.write(self.fd, line)
        if written != len(line):  # a full disk; the state still has the record, the final rewrite retries
            raise OSError(f"{self.path}: short write ({written} of {len(line)} bytes)")
        self.n += 1
        if self.fsync_every and self.n % self.fsync_every == 0:
            os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.fsync(self.fd)
            os.close(self.fd)
            self.fd = -1


def torn_tail(path: Path) -> bytes:
    """The unfinished last line of a JSONL file (bytes after the last newline), b"" when it ends cleanly."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            back = min(size, 1 << 20)
            fh.seek(size - back)
            tail = fh.read()
    except FileNotFoundError:
        return b""
    if not tail or tail.endswith(b"\n"):
        return b""
    return tail[tail.rfind(b"\n") + 1:]


class CrawlRun:
    """Opens the crawl state before the scheduler starts and closes the run when the spider closes.

    The run belongs to a *job*: what was asked for (:func:`job_key`). A job's run that stopped early
    (rate limit, Ctrl-C, page limit, unreachable site) is resumed from its JOBDIR (pending requests and
    the seen-request filter). A run whose process was killed is resumed too, but its JOBDIR is cleared
    (it is consistent only after a clean close): the spider starts again from the seeds and the pages
    the run had parsed are replayed from the state (:class:`ddikg.crawler.middlewares.PageReplayMiddleware`),
    so none is fetched twice. A run after a finished one starts afresh (its JOBDIR cleared too).

    Records are appended to the output as they are parsed (:class:`RecordAppender`); when the spider
    closes the output is rewritten from the state in one piece (atomically), with every category and
    disease the run's listings gave each drug.
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
        spider = crawler.spider  # created before the extensions: its arguments are resolved
        profile = spider.profile
        self.job_key = job_key(profile.base_url, profile.name, profile.source, list(spider.seed_urls),
                               list(spider.seed_drug_ids))
        if not s.get("JOBDIR"):
            jobs = Path(s.get("DDIKG_JOBS_DIR") or Path(state_dir) / "jobs")
            s.set("JOBDIR", str(jobs / self.job_key), priority="cmdline")  # read when the scheduler opens
        self.jobdir = s.get("JOBDIR")
        self._lock = _exclusive_lock(Path(state_dir) / "crawl.lock")
        self.state = CrawlState(state_dir)
        self.run_id, self.resumed, self.killed = self.state.begin_run(
            job_key=self.job_key, out=str(self.out), rejects=str(self.rejects), jobdir=str(self.jobdir or ""))
        if self.jobdir and (self.killed or not self.resumed) and Path(self.jobdir).exists():
            shutil.rmtree(self.jobdir)
        self.replay = self.resumed  # PageReplayMiddleware answers this run's parsed pages from the state
        self._open_output()
        self.started = time.monotonic()
        self.pages = self.drugs = self.errors = 0
        self.scheduled = 0  # requests the scheduler took (duplicates it dropped not counted): the total so far
        crawler.ddikg_run = self  # the pipeline, the spider and the middlewares find the run here

    def _open_output(self) -> None:
        """A new run starts an empty output; a resumed run rewrites it from the state, then appends."""
        if self.resumed:
            torn = torn_tail(self.out)
            if torn:
                self.state.record_error(
                    self.run_id, url=self.out.as_uri(), reason="torn_record",
                    detail=f"{len(torn)} bytes of an unfinished last line (a killed crawl), set aside; the "
                           f"state holds every parsed record: {torn[:120].decode('utf-8', 'replace')!r}")
            write_jsonl(self.out, self.state.run_records(self.run_id))
        else:
            write_jsonl(self.out, [])
        self.appender = RecordAppender(self.out, self.crawler.settings.getint("DDIKG_FSYNC_EVERY", 50))

    def append(self, drug_id: str) -> None:
        """Append the run's record of ``drug_id`` (called by the pipeline once per drug and run)."""
        self.appender.append(self.state.run_record(self.run_id, drug_id))

    @classmethod
    def from_crawler(cls, crawler):
        ext = cls(crawler)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        crawler.signals.connect(ext.response_received, signal=signals.response_received)
        crawler.signals.connect(ext.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(ext.request_scheduled, signal=signals.request_scheduled)
        crawler.signals.connect(ext.request_dropped, signal=signals.request_dropped)
        return ext

    def request_scheduled(self, request, spider) -> None:
        self.scheduled += 1

    def request_dropped(self, request, spider) -> None:
        self.scheduled -= 1

    def spider_opened(self, spider) -> None:
        how = "resumed after a kill" if self.killed else "resumed" if self.resumed else "new"
        spider.logger.info("crawl run %s (%s), job %s, output %s", self.run_id, how, self.job_key, self.out)
        self._emit("start")

    def response_received(self, response, request, spider) -> None:
        from ddikg.crawler.middlewares import REPLAYED

        if REPLAYED not in response.flags:
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
            # total: pages known so far (fetched + queued); it grows as list pages reveal drugs
            payload = {"event": event, "pages": self.pages, "drugs": self.drugs, "errors": self.errors,
                       "total": max(self.scheduled, self.pages)} | data
            sys.stdout.write(PROGRESS_PREFIX + json.dumps(payload, ensure_ascii=False) + "\n")
            sys.stdout.flush()

    def spider_closed(self, spider, reason) -> None:
        finished = reason == "finished"
        stopped = None if finished else (getattr(spider, "stop_reason", None) or reason)
        self.appender.close()
        records = self.state.run_records(self.run_id)
        write_jsonl(self.out, records)  # atomic: the appended lines, merged listings, one line per drug
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
            run_id=self.run_id, job_key=self.job_key, resumed=self.resumed,
            pages_fetched=int(stats.get_value("ddikg/pages_fetched", 0) or 0),
            pages_retried=int(stats.get_value("ddikg/pages_retried", 0) or 0),
            pages_replayed=int(stats.get_value("ddikg/pages_replayed", 0) or 0), drugs=len(records),
            new=changes.get("new", 0), changed=changes.get("changed", 0), unchanged=changes.get("unchanged", 0),
            errors=dict(by_reason), retries=int(stats.get_value("retry/count", 0) or 0),
            stopped_reason=stopped, stopped_detail=getattr(spider, "stop_detail", "") if stopped else "",
            finished=finished, out=self.out, rejects=self.rejects if errors else None,
            seconds=round(time.monotonic() - self.started, 3))
        self.summary_path.parent.mkdir(parents=True, exist_ok=True)
        self.summary_path.write_text(summary.model_dump_json(indent=2), encoding="utf-8")
        self._emit("closed", reason=reason)
        spider.logger.info("crawl %s: %s", "finished" if finished else f"stopped ({stopped})",
                           summary.model_dump_json())
