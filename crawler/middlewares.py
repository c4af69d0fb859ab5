"""Downloader middleware for the site's rate-limit/captcha page: back off, then stop cleanly.

The captcha is never solved or bypassed. The page is usually served with HTTP 200, so Scrapy's retry
middleware does not see it; this middleware recognises it by the profile's markers.
"""

from __future__ import annotations

from scrapy.http import TextResponse
from scrapy.utils.defer import deferred_from_coro

from ddikg.crawler.parsing import rate_limit_marker
from ddikg.crawler.profile import load_profile

ATTEMPT = "ddikg_rate_limit_attempt"
STOP_REASON = "rate_limited"


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
        if not isinstance(response, TextResponse):
            return response
        marker = rate_limit_marker(response.selector, response.text, self.profile)
        if marker is None:
            return response
        stats, spider = self.crawler.stats, self.crawler.spider
        stats.inc_value("ddikg/rate_limit_pages")
        attempt = request.meta.get(ATTEMPT, 0)
        if self.stopping:
            # Already closing: keep the request for the resumed crawl.
            return request.replace(dont_filter=True, meta={**request.meta, ATTEMPT: 0})
        if attempt < self.retries:
            self._widen_delay(request)
            spider.logger.warning("rate-limit page (%r) at %s; backing off %.1fs, retry %d/%d",
                                  marker, request.url, self.backoff, attempt + 1, self.retries)
            return request.replace(dont_filter=True, meta={**request.meta, ATTEMPT: attempt + 1})
        # Give up for now: pause the engine so nothing else is sent, put the request back in the
        # (JOBDIR) queue for the resumed crawl, and close the spider with the reason.
        self.stopping = True
        spider.stop_reason = STOP_REASON
        spider.logger.error("rate-limit page (%r) persists at %s; stopping the crawl (resumable)",
                            marker, request.url)
        engine = self.crawler.engine
        engine.pause()
        if hasattr(engine, "close_spider_async"):
            deferred_from_coro(engine.close_spider_async(reason=STOP_REASON))
        else:  # Scrapy < 2.14
            engine.close_spider(spider, STOP_REASON)
        return request.replace(dont_filter=True, meta={**request.meta, ATTEMPT: 0})

    def _widen_delay(self, request) -> None:
        downloader = self.crawler.engine.downloader
        key = request.meta.get("download_slot")
        if key is None and hasattr(downloader, "get_slot_key"):
            key = downloader.get_slot_key(request)
        slot = downloader.slots.get(key) if key is not None else None
        if slot is not None:
            slot.delay = max(slot.delay, self.backoff)
