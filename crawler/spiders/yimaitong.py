"""The Yimaitong spider: disease seeds -> category listings (paginated) -> drug instruction pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import scrapy
from pydantic import ValidationError
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError

from ddikg.contracts import RawDrugRecord, utcnow
from ddikg.crawler.items import DrugItem, ListingItem, RejectItem
from ddikg.crawler.middlewares import REPLAYED
from ddikg.crawler.parsing import (
    PageRejected,
    category_code,
    cut_off,
    listing_truncation,
    login_marker,
    normalise_text,
    parse_drug,
    parse_listing,
)
from ddikg.crawler.profile import SiteProfile, load_profile


def _split(value: Any) -> list[str]:
    """Spider arguments arrive as comma-separated strings from ``scrapy crawl -a``; settings as lists."""
    if not value:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


class YimaitongSpider(scrapy.Spider):
    name = "yimaitong"

    def __init__(self, *args, base_url: str | None = None, start_urls: Any = None, drug_ids: Any = None,
                 profile: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._arg_base_url, self._arg_profile = base_url, profile
        self._arg_start_urls, self._arg_drug_ids = _split(start_urls), _split(drug_ids)
        self.stop_reason: str | None = None
        self.stop_detail = ""

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        s = crawler.settings
        spider.profile = load_profile(spider._arg_profile or s.get("DDIKG_PROFILE") or None,
                                      base_url=spider._arg_base_url or s.get("DDIKG_BASE_URL") or None)
        spider.seed_urls = spider._arg_start_urls or _split(s.getlist("DDIKG_START_URLS"))
        spider.seed_drug_ids = spider._arg_drug_ids or _split(s.getlist("DDIKG_DRUG_IDS"))
        return spider

    profile: SiteProfile

    # ------------------------------------------------------------------ requests

    async def start(self) -> AsyncIterator[Any]:
        for request in self.start_requests():
            yield request

    def start_requests(self):  # Scrapy < 2.13 calls this directly
        # dont_filter stays False: a resumed crawl must not fetch seeds its first part already fetched.
        if self.seed_drug_ids:
            for drug_id in self.seed_drug_ids:
                yield self.drug_request(self.profile.drug_url(drug_id))
            return
        if self.seed_urls:
            for url in self.seed_urls:
                yield self.drug_request(url) if self.profile.drug_id_of(url) else self.listing_request(url)
            return
        yield scrapy.Request(self.profile.url(self.profile.paths.category_index), callback=self.parse_index,
                             errback=self.on_index_error, meta={"kind": "index"})

    def seed_requests(self):
        for code in self.profile.seed_codes:
            yield self.listing_request(self.profile.listing_url(code), code=code)

    def listing_request(self, url: str, *, code: str | None = None, category: str | None = None) -> scrapy.Request:
        code = category_code(url, self.profile) or code
        return scrapy.Request(url, callback=self.parse_listing, errback=self.on_error,
                              meta={"code": code, "category": category, "kind": "listing"})

    def drug_request(self, url: str) -> scrapy.Request:
        headers = {}
        drug_id = self.profile.drug_id_of(url)
        prev = self.crawler.ddikg_run.state.previous(drug_id) if drug_id else None
        if prev is not None:
            # Conditional request: the server answers 304 when the page has not changed.
            if prev["etag"]:
                headers["If-None-Match"] = prev["etag"]
            if prev["last_modified"]:
                headers["If-Modified-Since"] = prev["last_modified"]
        return scrapy.Request(url, callback=self.parse_drug, errback=self.on_error, headers=headers,
                              meta={"drug_id": drug_id, "kind": "drug", "handle_httpstatus_list": [304]})

    # ------------------------------------------------------------------ callbacks

    def _remember(self, response: Response) -> None:
        """Keep a parsed page in the run's state, so a resumed (even a killed) run replays it, not refetches."""
        if REPLAYED in response.flags:
            return
        headers = {k.decode("latin-1"): [v.decode("latin-1") for v in vs] for k, vs in response.headers.items()}
        run = self.crawler.ddikg_run
        run.state.remember_page(run.run_id, response.request.url, response.status, headers, response.body)

    def _retry_or_reject(self, response: Response, reason: str, detail: str, drug_id: str | None = None):
        """A page the site cut off: fetch it again (bounded by RETRY_TIMES), then reject it with the reason."""
        retry = get_retry_request(response.request, spider=self, reason=reason,
                                  max_retry_times=self.crawler.settings.getint("RETRY_TIMES"))
        if retry is not None:
            self.crawler.stats.inc_value("ddikg/pages_retried")
            yield retry
            return
        tries = response.request.meta.get("retry_times", 0) + 1
        yield RejectItem(response.url, reason, f"{detail} ({tries} attempts)", drug_id)

    def parse_index(self, response: Response):
        """Follow the seeded categories the index links to; seeds it does not list are logged, not fetched."""
        sel = response.selector if isinstance(response, TextResponse) else None
        if sel is not None and cut_off(response.text, self.profile.listing.end_marker):
            # A cut-off index would skip the seeds it no longer links: retry, then request every seed.
            retry = get_retry_request(response.request, spider=self, reason="truncated_index",
                                      max_retry_times=self.crawler.settings.getint("RETRY_TIMES"))
            if retry is not None:
                self.crawler.stats.inc_value("ddikg/pages_retried")
                yield retry
                return
            yield RejectItem(response.url, "truncated_index", "category index cut off on every try; "
                                                              "requesting the seeds directly")
            yield from self.seed_requests()
            return
        linked: dict[str, tuple[str, str]] = {}
        for a in sel.css(self.profile.listing.index_links) if sel is not None else []:
            url = response.urljoin(a.xpath("@href").get(""))
            code = category_code(url, self.profile)
            if code and code not in linked:
                linked[code] = (url, normalise_text(" ".join(a.xpath(".//text()").getall())))
        if not linked:
            # The index changed or is rendered by script: fall back to the seeds' listing URLs.
            self.logger.warning("category index %s links no categories; requesting the seeds directly", response.url)
            yield from self.seed_requests()
            return
        self._remember(response)
        for code in self.profile.seed_codes:
            if code in linked:
                url, name = linked[code]
                yield self.listing_request(url, code=code, category=name or None)
            else:
                self.crawler.stats.inc_value("ddikg/seeds_not_on_index")
                self.logger.info("seed category %s is not on the category index; skipped", code)

    def on_index_error(self, failure):
        yield from self.on_error(failure)
        yield from self.seed_requests()

    def parse_listing(self, response: Response):
        if not isinstance(response, TextResponse):
            yield RejectItem(response.url, "not_html", f"content type {response.headers.get('Content-Type')!r}")
            return
        sel = response.selector
        marker = login_marker(sel, response.text, response.url, self.profile)
        if marker:
            yield RejectItem(response.url, "login_required", f"login page (marker {marker!r})")
            return
        cut = listing_truncation(sel, response.text, self.profile)
        if cut:
            # Its drug links and next-page link cannot be trusted: a short list would lose drugs silently.
            yield from self._retry_or_reject(response, "truncated_listing", cut)
            return
        code = response.meta.get("code")
        page = parse_listing(sel, response.url, self.profile)
        self._remember(response)
        category = page.category_name or response.meta.get("category") or code or response.url
        diseases = self.profile.diseases_of(code) if code else []
        if not page.drug_urls and not page.next_url:
            yield RejectItem(response.url, "empty_listing", "no drug links and no next page")
        for url in page.drug_urls:
            yield ListingItem(self.profile.drug_id_of(url), category, diseases)
            yield self.drug_request(url)
        if page.next_url:
            yield self.listing_request(page.next_url, code=code, category=category)

    def parse_drug(self, response: Response):
        drug_id = response.meta.get("drug_id") or self.profile.drug_id_of(response.url)
        if response.status == 304:
            self._remember(response)
            prev = self.crawler.ddikg_run.state.previous(drug_id)
            if prev is None:
                yield RejectItem(response.url, "unexpected_304", "304 without a stored record", drug_id)
                return
            yield DrugItem(prev["record"].model_copy(update={"fetched_at": utcnow()}), not_modified=True)
            return
        if not isinstance(response, TextResponse):
            yield RejectItem(response.url, "not_html", f"content type {response.headers.get('Content-Type')!r}",
                             drug_id)
            return
        try:
            page = parse_drug(response.selector, response.text, response.url, self.profile)
        except PageRejected as exc:
            if exc.reason == "truncated_html":
                yield from self._retry_or_reject(response, exc.reason, exc.detail, drug_id)
                return
            yield RejectItem(response.url, exc.reason, exc.detail, drug_id)
            return
        headers = response.headers
        try:
            record = RawDrugRecord(
                drug_id=page.drug_id, name=page.name, url=response.url, sections=page.sections,
                etag=_header(headers, b"ETag"), last_modified=_header(headers, b"Last-Modified"),
                encoding=response.encoding)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            yield RejectItem(response.url, "invalid_record",
                             f"{'.'.join(map(str, first['loc']))}: {first['msg']}", drug_id)
            return
        self._remember(response)
        yield DrugItem(record)

    def on_error(self, failure):
        request = failure.request
        meta = request.meta
        exc = failure.value
        if isinstance(exc, HttpError):
            reason, detail = f"http_{exc.response.status}", f"HTTP {exc.response.status} after retries"
        elif isinstance(exc, IgnoreRequest) and "robots.txt" in str(exc):
            reason, detail = "robots_disallowed", "forbidden by the site's robots.txt; not fetched"
        elif isinstance(exc, IgnoreRequest):
            reason, detail = "ignored", str(exc)
        else:
            reason, detail = "download_error", f"{type(exc).__name__}: {exc}"
        self.logger.warning("%s: %s (%s)", request.url, reason, detail)
        yield RejectItem(request.url, reason, detail, meta.get("drug_id"))


def _header(headers, name: bytes) -> str | None:
    value = headers.get(name)
    return value.decode("latin-1") if value else None


