"""Subprocess entry of :func:`ddikg.crawler.api.run_crawl`: ``python -m ddikg.crawler.runner SETTINGS.json``.

Scrapy's Twisted reactor cannot be restarted inside one process, so every crawl runs in a fresh
interpreter. The JSON file holds the Scrapy settings computed by the parent.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m ddikg.crawler.runner SETTINGS.json", file=sys.stderr)
        return 2
    overrides = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    from scrapy.crawler import CrawlerProcess
    from scrapy.settings import Settings

    import ddikg.crawler.settings as base

    settings = Settings()
    settings.setmodule(base, priority="project")
    settings.update(overrides, priority="cmdline")
    process = CrawlerProcess(settings, install_root_handler=True)
    process.crawl("yimaitong")
    process.start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
