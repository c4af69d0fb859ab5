"""Item pipeline: change detection against the crawl state and the run's output files."""

from __future__ import annotations

from ddikg.crawler.items import DrugItem, ListingItem, RejectItem
from ddikg.crawler.state import CrawlState


class CrawlStatePipeline:
    """Records every item in the crawl state: drugs with their change status, listings, rejected pages.

    A drug is committed to the state first, then appended to the output (one line, one write); when the
    spider closes the output is rewritten from the state (:class:`ddikg.crawler.extensions.CrawlRun`).
    """

    def __init__(self, crawler):
        self.crawler = crawler
        self.stats = crawler.stats
        self.state: CrawlState | None = None
        self.run_id = ""

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def open_spider(self, spider=None) -> None:
        run = self.crawler.ddikg_run  # set by ddikg.crawler.extensions.CrawlRun
        self.state, self.run_id = run.state, run.run_id

    def process_item(self, item, spider=None):
        state = self.state
        if isinstance(item, DrugItem):
            change, first = state.record_drug(self.run_id, item.record, not_modified=item.not_modified)
            if first:  # a page replayed on resume does not write its drug twice
                self.crawler.ddikg_run.append(item.record.drug_id)
                self.stats.inc_value(f"ddikg/drugs/{change}")
        elif isinstance(item, ListingItem):
            state.record_listing(self.run_id, item.drug_id, item.category, item.diseases)
        elif isinstance(item, RejectItem):
            state.record_error(self.run_id, url=item.url, reason=item.reason, detail=item.detail,
                               drug_id=item.drug_id)
            self.stats.inc_value(f"ddikg/errors/{item.reason}")
        return item
