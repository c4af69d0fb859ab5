"""Crawl throughput on the local fixture site (real Scrapy engine, real HTTP on 127.0.0.1).

    python benchmarks/crawl_bench.py [--page-size 4] [--repeat 2] [--delay 0]

Prints pages/s for a first crawl (every drug new) and a re-crawl (conditional requests, 304s), both
as the spider's own time and as wall time including the crawl subprocess start. ``--delay 0`` turns
the politeness delay and AutoThrottle off, which is right only for a local site: against a real site
the delay (default 2 s) bounds the rate, i.e. about 0.5 pages/s.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from ddikg.config import load_settings
from ddikg.crawler.api import run_crawl
from ddikg.crawler.fixture_site.server import FixtureSite


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--page-size", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--delay", type=float, default=0.0)
    args = ap.parse_args()
    rows = []
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp, FixtureSite(page_size=args.page_size) as site:
            home = Path(tmp) / "home"
            settings = load_settings(home=home, crawl={"download_delay": args.delay,
                                                       "autothrottle": args.delay > 0})
            for label in ("first", "recrawl"):
                t = time.perf_counter()
                s = run_crawl(settings, home / "raw.jsonl", base_url=site.base_url)
                wall = time.perf_counter() - t
                row = {"repeat": i, "crawl": label, "pages": s.pages_fetched, "drugs": s.drugs, "new": s.new,
                       "unchanged": s.unchanged, "spider_s": round(s.seconds, 3), "wall_s": round(wall, 3),
                       "pages_per_s": round(s.pages_fetched / s.seconds, 1),
                       "pages_per_s_wall": round(s.pages_fetched / wall, 1)}
                rows.append(row)
                print(json.dumps(row))


if __name__ == "__main__":
    main()
