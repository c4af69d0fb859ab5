"""Scrapy settings derived from the one typed config (:class:`ddikg.config.Settings`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ddikg.config import Settings


def user_agent(settings: Settings) -> str:
    """The configured User-Agent with the operator's contact, so the site can reach whoever crawls."""
    ua, contact = settings.crawl.user_agent.strip(), settings.crawl.contact.strip()
    if contact and contact not in ua:
        ua = f"{ua[:-1]}; contact: {contact})" if ua.endswith(")") else f"{ua} (contact: {contact})"
    return ua


def default_out(settings: Settings) -> Path:
    return settings.raw_dir / "drugs.jsonl"


def scrapy_settings_for(
    settings: Settings,
    *,
    out: Path | None = None,
    base_url: str | None = None,
    start_urls: list[str] | None = None,
    drug_ids: list[str] | None = None,
    progress: bool = False,
    summary: Path | None = None,
) -> dict[str, Any]:
    """Politeness, retries, locations and the run's inputs as Scrapy setting names."""
    c = settings.crawl
    state_dir = settings.home / "crawl"
    return {
        # Politeness: robots.txt, one request at a time to the host, a delay and AutoThrottle on top.
        "ROBOTSTXT_OBEY": c.obey_robots,
        "USER_AGENT": user_agent(settings),
        "DOWNLOAD_DELAY": c.download_delay,
        "CONCURRENT_REQUESTS_PER_DOMAIN": c.concurrency_per_domain,
        "CONCURRENT_REQUESTS": max(c.concurrency_per_domain, 1),
        "AUTOTHROTTLE_ENABLED": c.autothrottle,
        "AUTOTHROTTLE_START_DELAY": max(c.download_delay, 1.0),
        "AUTOTHROTTLE_TARGET_CONCURRENCY": 1.0,
        "AUTOTHROTTLE_MAX_DELAY": 120.0,
        "RETRY_TIMES": c.retry_times,
        "DOWNLOAD_TIMEOUT": c.download_timeout,
        "CLOSESPIDER_PAGECOUNT": c.max_pages,
        # JOBDIR is <DDIKG_JOBS_DIR>/<job key>, set by ddikg.crawler.extensions.CrawlRun (it needs the
        # spider's resolved arguments); an explicit JOBDIR setting is used as it is.
        "DDIKG_JOBS_DIR": str(settings.crawl_jobdir),
        # ddikg's own settings (read by the spider, middleware, pipeline and run extension).
        "DDIKG_STATE_DIR": str(state_dir),
        "DDIKG_OUT": str(out or default_out(settings)),
        "DDIKG_PROFILE": str(c.profile) if c.profile else "",
        "DDIKG_BASE_URL": base_url or "",
        "DDIKG_START_URLS": list(start_urls if start_urls is not None else c.start_urls),
        "DDIKG_DRUG_IDS": list(drug_ids if drug_ids is not None else c.drug_ids),
        "DDIKG_RATE_LIMIT_BACKOFF": c.rate_limit_backoff,
        "DDIKG_RATE_LIMIT_RETRIES": c.rate_limit_retries,
        "DDIKG_BACKOFF_HTTP_CODES": list(c.backoff_http_codes),
        "DDIKG_BACKOFF_BASE": c.backoff_base,
        "DDIKG_BACKOFF_MAX": c.backoff_max,
        "DDIKG_RETRY_AFTER_MAX": c.retry_after_max,
        "DDIKG_UNREACHABLE_AFTER": c.unreachable_after,
        "DDIKG_FSYNC_EVERY": c.fsync_every,
        "DDIKG_PROGRESS": progress,
        "DDIKG_SUMMARY": str(summary) if summary else "",
    }
