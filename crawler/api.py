"""The crawl stage's Python API: :func:`run_crawl` (used by the Prefect flow and ``ddikg crawl``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from ddikg.config import Settings
from ddikg.crawler.extensions import PROGRESS_PREFIX
from ddikg.crawler.profile import ProfileError, load_profile
from ddikg.crawler.scrapy_config import scrapy_settings_for
from ddikg.crawler.summary import CrawlSummary


class CrawlError(RuntimeError):
    """The crawl process failed (a configuration mistake or a crash); the message holds its log tail."""


class CrawlIncomplete(CrawlError):
    """The crawl ran but its result must not pass for a good one; ``summary`` has the counts.

    Raised when nothing was crawled (0 drugs: site unreachable, every page failed), when the site was
    unreachable, or when pages were lost to faults retries did not overcome (see
    :data:`ddikg.crawler.summary.TRANSIENT_REASONS`). The output and rejects files are written all the
    same; rerunning resumes or retries. ``exit_code`` is what ``ddikg crawl`` exits with.
    """

    exit_code = 3

    def __init__(self, summary: CrawlSummary, message: str):
        self.summary = summary
        super().__init__(message)


class NothingCrawled(CrawlIncomplete):
    """0 drugs, or the site unreachable (``ddikg crawl`` exits 4)."""

    exit_code = 4


class PagesLost(CrawlIncomplete):
    """Pages lost after retries (``ddikg crawl`` exits 3)."""

    exit_code = 3


ProgressFn = Callable[[dict], None]


def run_crawl(
    settings: Settings,
    out: Path,
    *,
    base_url: str | None = None,
    start_urls: list[str] | None = None,
    drug_ids: list[str] | None = None,
    progress: bool | ProgressFn = False,
) -> CrawlSummary:
    """Crawl the site of ``settings.crawl.profile`` into ``out`` (RawDrugRecord JSONL) and return the summary.

    Runs Scrapy in a subprocess. A crawl the site stops (rate-limit page, page limit) returns normally
    with ``stopped_reason`` set; the next call with the same request resumes it. ``progress`` is either
    a flag (a rich progress display on stderr) or a function called with each progress event.
    Raises :class:`ProfileError` for a bad site profile, :class:`NothingCrawled` (0 drugs or the site
    unreachable) and :class:`PagesLost` (pages lost after retries), both :class:`CrawlIncomplete` with the
    summary, and :class:`CrawlError` when the process fails.
    """
    profile = load_profile(settings.crawl.profile, base_url=base_url)  # fail fast on configuration errors
    if not (start_urls or drug_ids or settings.crawl.start_urls or settings.crawl.drug_ids or profile.seed_codes):
        raise ProfileError(f"{profile.source}: no disease seeds ([diseases] table), start URLs or drug ids: "
                           "nothing to crawl (docs/crawler.md, 'Pointing it at the real site')")
    out = Path(out).absolute()
    state_dir = (settings.home / "crawl").absolute()
    state_dir.mkdir(parents=True, exist_ok=True)
    abs_settings = settings.model_copy(update={"home": settings.home.absolute()})
    with tempfile.TemporaryDirectory(prefix="ddikg-crawl-") as tmp:
        summary_path = Path(tmp) / "summary.json"
        log_path = state_dir / "logs" / "crawl.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        overrides = scrapy_settings_for(abs_settings, out=out, base_url=profile.base_url if base_url else None,
                                        start_urls=start_urls, drug_ids=drug_ids, progress=bool(progress),
                                        summary=summary_path)
        overrides["LOG_FILE"] = str(log_path)
        overrides["LOG_FILE_APPEND"] = False
        spec = Path(tmp) / "settings.json"
        spec.write_text(json.dumps(overrides, ensure_ascii=False), encoding="utf-8")
        env = os.environ | {"PYTHONUNBUFFERED": "1"}
        if progress is True:
            from ddikg.crawler.progress import RichProgress

            with RichProgress() as display:
                rc = _run(spec, env, display.update)
        else:
            rc = _run(spec, env, progress or None)
        if rc != 0 or not summary_path.is_file():
            _check_lock(state_dir)
            tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:] if log_path.is_file() else ""
            raise CrawlError(f"crawl process exited with {rc} without a summary; log {log_path}:\n{tail}")
        summary = CrawlSummary.model_validate_json(summary_path.read_text(encoding="utf-8"))
    check(summary)
    return summary


def check(summary: CrawlSummary) -> None:
    """Raise :class:`NothingCrawled` / :class:`PagesLost` for a crawl that must not pass for a good one."""
    problem = summary.problem
    if problem is None:
        return
    nothing = summary.drugs == 0 or summary.stopped_reason == "site_unreachable"
    cls = NothingCrawled if nothing else PagesLost
    where = f"; rejects: {summary.rejects}" if summary.rejects else ""
    raise cls(summary, f"crawl incomplete: {problem}{where}")


def _check_lock(state_dir: Path) -> None:
    """Say plainly when the crawl failed because another one holds the state."""
    from ddikg.crawler.extensions import CrawlLocked, _exclusive_lock

    try:
        _exclusive_lock(state_dir / "crawl.lock").close()
    except CrawlLocked as exc:
        raise CrawlError(str(exc)) from None


def _run(spec: Path, env: dict, on_event: ProgressFn | None) -> int:
    cmd = [sys.executable, "-m", "ddikg.crawler.runner", str(spec)]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
                          encoding="utf-8", errors="replace") as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(PROGRESS_PREFIX) and on_event is not None:
                on_event(json.loads(line[len(PROGRESS_PREFIX):]))
        return proc.wait()
