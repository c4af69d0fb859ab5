"""Scrapy settings module of the ddikg crawler (``SCRAPY_SETTINGS_MODULE=ddikg.crawler.settings``).

The fixed wiring is here; politeness, retries and locations come from the typed ddikg config
(``ddikg.config``: ``ddikg.toml`` / ``DDIKG_*`` environment), so ``scrapy crawl yimaitong`` and
``ddikg crawl`` behave the same.
"""

from ddikg.config import load_settings
from ddikg.crawler.scrapy_config import scrapy_settings_for

BOT_NAME = "ddikg"
SPIDER_MODULES = ["ddikg.crawler.spiders"]
NEWSPIDER_MODULE = "ddikg.crawler.spiders"

ITEM_PIPELINES = {"ddikg.crawler.pipelines.CrawlStatePipeline": 300}
# process_request runs in ascending order, process_response/process_exception in descending order.
DOWNLOADER_MIDDLEWARES = {
    "ddikg.crawler.middlewares.PageReplayMiddleware": 60,  # a resumed run's parsed pages, before anything else
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "ddikg.crawler.middlewares.BackoffRetryMiddleware": 550,  # Scrapy's retry with 429/503 back-off
    "ddikg.crawler.middlewares.RateLimitMiddleware": 560,  # sees the captcha page before the retry does
    "ddikg.crawler.middlewares.UnreachableMiddleware": 570,  # sees every failed attempt before the retry
    "ddikg.crawler.middlewares.ResponseCountMiddleware": 950,  # every response, before any is retried
}
EXTENSIONS = {"ddikg.crawler.extensions.CrawlRun": 0}

RETRY_ENABLED = True
RETRY_HTTP_CODES = [429, 500, 502, 503, 504, 522, 524, 408]
# A truncated transfer is an error (retried), never a silently short page.
DOWNLOAD_FAIL_ON_DATALOSS = True
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
FEED_EXPORT_ENCODING = "utf-8"
LOG_LEVEL = "INFO"
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"

globals().update(scrapy_settings_for(load_settings()))
