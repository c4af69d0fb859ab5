"""Downloader middlewares: back-off, the site's rate-limit page, an unreachable site, replay on resume.

- :class:`BackoffRetryMiddleware` (Scrapy's retry, replaced): a 429/503 is retried after the site's
  ``Retry-After`` (seconds or HTTP date), else after an exponential back-off with jitter, capped. The
  wait pauses the host's download slot with a timer (the reactor keeps running); the retry request
  goes back through the scheduler (so a JOBDIR keeps it).
- :class:`RateLimitMiddleware`: the captcha page (usually HTTP 200) -> back off, then stop cleanly.
  The captcha is never solved or bypassed.
- :class:`UnreachableMiddleware`: N connection failures in a row with no answer in between -> stop
  (resumable) as ``site_unreachable`` instead of retrying every queued page.
- :class:`PageReplayMiddleware`: a resumed run answers the pages it already parsed from the crawl state.
- :class:`ResponseCountMiddleware`: counts every response off the wire, retried ones included.
"""

from __future__ import annotations

import random
import time
from email.utils import parsedate_to_datetime
from time import monotonic

from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.http import TextResponse
from scrapy.responsetypes import responsetypes
from scrapy.utils.defer import deferred_from_coro
from scrapy.utils.response import response_status_message

from ddikg.crawler.parsing import rate_limit_marker
from ddikg.crawler.profile import load_profile

ATTEMPT = "ddikg_rate_limit_attempt"
STOP_REASON = "rate_limited"
REPLAYED = "ddikg_replayed"  # flag of a response answered from the crawl state


def stop_crawl(crawler, reason: str, detail: str = "") -> None:
    """Pause the engine so nothing else is sent and close the spider with ``reason`` (resumable)."""
    spider = crawler.spider
    if getattr(spider, "stop_reason", None) is None:
        spider.stop_reason, spider.stop_detail = reason, detail
    engine = crawler.engine
    engine.pause()
    if hasattr(engine, "close_spider_async"):
        deferred_from_coro(engine.close_spider_async(reason=reason))
    else:  # Scrapy < 2.14
        engine.close_spider(spider, reason)


def requeue(request):
    """The request again, for the (JOBDIR) queue of the resumed crawl."""
    return request.replace(dont_filter=True, meta={**request.meta, ATTEMPT: 0})


def retry_after_seconds(value: bytes | str | None, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date); None when absent/invalid."""
    if not value:
        return None
    text = (value.decode("latin-1") if isinstance(value, bytes) else value).strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_seconds(retry: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential back-off with equal jitter: half of min(cap, base * 2**(retry-1)) plus a random half."""
    full = min(cap, base * 2 ** max(retry - 1, 0))
    return full / 2 + (rng or random).uniform(0, full / 2)


_PAUSED_UNTIL: dict[str, float] = {}  # slot key -> monotonic time its back-off ends


def pause_slot(crawler, request, seconds: float) -> None:
    """Send nothing to ``request``'s host for ``seconds``: the download slot waits on a timer."""
    downloader = crawler.engine.downloader
    key = request.meta.get("download_slot")
    if key is None and hasattr(downloader, "get_slot_key"):
        key = downloader.get_slot_key(request)
    slot = downloader.slots.get(key) if key is not None else None
    if slot is None or seconds <= 0 or not hasattr(downloader, "_latercall"):
        return
    from scrapy.utils.asyncio import call_later

    until = monotonic() + seconds
    if _PAUSED_UNTIL.get(key, 0.0) >= until and slot.latercall is not None:
        return  # already paused for longer
    if slot.latercall is not None:
        slot.latercall.cancel()
    _PAUSED_UNTIL[key] = until
    # _process_queue does nothing while slot.latercall is set; _latercall clears it and resumes the queue.
    slot.latercall = call_later(seconds, downloader._latercall, slot)  # noqa: SLF001


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's RetryMiddleware, with a back-off for 429/503 (see the module docstring)."""

    def __init__(self, settings):
        super().__init__(settings)
        self.backoff_codes = {int(x) for x in settings.getlist("DDIKG_BACKOFF_HTTP_CODES", [429, 503])}
        self.base = settings.getfloat("DDIKG_BACKOFF_BASE", 5.0)
        self.cap = settings.getfloat("DDIKG_BACKOFF_MAX", 300.0)
        self.retry_after_max = settings.getfloat("DDIKG_RETRY_AFTER_MAX", 900.0)

    def process_response(self, request, response, spider=None):
        if request.meta.get("dont_retry", False) or response.status not in self.retry_http_codes:
            return response
        retry = self._retry(request, response_status_message(response.status))
        if retry is None:
            return response  # retries spent: the spider reports http_<code>
        stats, log = self.crawler.stats, self.crawler.spider.logger
        stats.inc_value("ddikg/pages_retried")
        if response.status not in self.backoff_codes:
            return retry
        asked = retry_after_seconds(response.headers.get(b"Retry-After"))
        if asked is not None and asked > self.retry_after_max:
            log.error("%s answered %d with Retry-After %.0fs (over retry_after_max %.0fs); stopping (resumable)",
                      request.url, response.status, asked, self.retry_after_max)
            stop_crawl(self.crawler, STOP_REASON, f"Retry-After {asked:.0f}s from {request.url}")
            return requeue(request)
        wait = asked if asked is not None else backoff_seconds(retry.meta["retry_times"], self.base, self.cap)
        stats.inc_value("ddikg/backoff_seconds", wait)
        log.info("%d at %s: backing off %.2fs (%s), retry %d", response.status, request.url, wait,
                 "Retry-After" if asked is not None else "exponential", retry.meta["retry_times"])
        pause_slot(self.crawler, request, wait)
        retry.meta["ddikg_backoff_s"] = wait
        return retry


class RateLimitMiddleware:
    def __init__(self, crawler):
        s = crawler.settings
        self.crawler = crawler
        self.profile = load_profile(s.get("DDIKG_PROFILE") or None, base_url=s.get("DDIKG_BASE_URL") or None)
        self.backoff = s.getfloat("DDIKG_RATE_LIMIT_BACKOFF", 60.0)
        self.retries = s.getint("DDIKG_RATE_LIMIT_RETRIES", 2)
        self.stopping = False

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_response(self, request, response, spider=None):
        if not isinstance(response, TextResponse) or REPLAYED in response.flags:
            return response
        marker = rate_limit_marker(response.selector, response.text, self.profile)
        if marker is None:
            return response
        stats, spider = self.crawler.stats, self.crawler.spider
        stats.inc_value("ddikg/rate_limit_pages")
        attempt = request.meta.get(ATTEMPT, 0)
        if self.stopping:
            return requeue(request)  # already closing: keep the request for the resumed crawl
        if attempt < self.retries:
            self._widen_delay(request)
            stats.inc_value("ddikg/pages_retried")
            spider.logger.warning("rate-limit page (%r) at %s; backing off %.1fs, retry %d/%d",
                                  marker, request.url, self.backoff, attempt + 1, self.retries)
            return request.replace(dont_filter=True, meta={**request.meta, ATTEMPT: attempt + 1})
        # Give up for now: the request goes back in the (JOBDIR) queue for the resumed crawl.
        self.stopping = True
        spider.logger.error("rate-limit page (%r) persists at %s; stopping the crawl (resumable)",
                            marker, request.url)
        stop_crawl(self.crawler, STOP_REASON, f"rate-limit page ({marker}) at {request.url}")
        return requeue(request)

    def _widen_delay(self, request) -> None:
        downloader = self.crawler.engine.downloader
        key = request.meta.get("download_slot")
        if key is None and hasattr(downloader, "get_slot_key"):
            key = downloader.get_slot_key(request)
        slot = downloader.slots.get(key) if key is not None else None
        if slot is not None:
            slot.delay = max(slot.delay, self.backoff)


def _connection_errors() -> tuple[type[BaseException], ...]:
    from scrapy import exceptions as sx
    from twisted.internet import error as tx

    names = ("CannotResolveHostError", "DownloadConnectionRefusedError", "DownloadTimeoutError")
    return tuple(getattr(sx, n) for n in names if hasattr(sx, n)) + (
        tx.ConnectError, tx.DNSLookupError, tx.TimeoutError, TimeoutError, ConnectionRefusedError)


class UnreachableMiddleware:
    """Stops the crawl when the site does not answer at all (every attempt fails to connect or times out).

    Runs before the retry middleware on exceptions, so it counts every attempt; any response resets the
    count. On tripping, the request goes back to the queue (a resumed crawl fetches it) and the spider
    closes with ``site_unreachable``.
    """

    def __init__(self, crawler):
        self.crawler = crawler
        self.limit = crawler.settings.getint("DDIKG_UNREACHABLE_AFTER", 6)
        self.errors = _connection_errors()
        self.failures = 0
        self.stopping = False

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_response(self, request, response, spider=None):
        if REPLAYED not in response.flags:
            self.failures = 0
        return response

    def process_exception(self, request, exception, spider=None):
        if not isinstance(exception, self.errors):
            return None
        self.failures += 1
        robots = request.url.endswith("/robots.txt")  # RobotsTxtMiddleware's own fetch: never requeued
        if self.stopping:
            return None if robots else requeue(request)
        if self.failures < self.limit:
            return None  # the retry middleware decides
        self.stopping = True
        detail = f"{self.failures} attempts in a row failed, last {type(exception).__name__}: {exception}"
        self.crawler.spider.logger.error("site unreachable (%s); stopping the crawl (resumable)", detail)
        stop_crawl(self.crawler, "site_unreachable", detail)
        return None if robots else requeue(request)


class PageReplayMiddleware:
    """In a resumed run, a page the run already parsed is answered from the crawl state, not fetched.

    That is what makes a killed crawl cheap to resume: its Scrapy JOBDIR is not trusted (the queue and
    the seen-request filter are only consistent after a clean close), so the spider walks again from the
    seeds and every page it had parsed is replayed locally.
    """

    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request, spider=None):
        run = getattr(self.crawler, "ddikg_run", None)
        if run is None or not run.replay or request.meta.get("kind") not in ("index", "listing", "drug"):
            return None
        hit = run.state.parsed_page(run.run_id, request.url)
        if hit is None:
            return None
        status, headers, body = hit
        cls = responsetypes.from_args(headers=headers, url=request.url, body=body)
        self.crawler.stats.inc_value("ddikg/pages_replayed")
        return cls(url=request.url, status=status, headers=headers, body=body, request=request, flags=[REPLAYED])


class ResponseCountMiddleware:
    """Counts every response off the wire (next to the downloader: before retries swallow any)."""

    def __init__(self, crawler):
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_response(self, request, response, spider=None):
        if REPLAYED not in response.flags:
            self.stats.inc_value("ddikg/pages_fetched")
        return response
