"""How long ``ddikg crawl`` takes to give up on an unreachable site, with the polite defaults.

    python -m benchmarks.crawl_unreachable [--repeat 2]

Crawls the fixture profile at a loopback port nobody listens on (every connection refused) with the
default settings (2 s delay, AutoThrottle, 3 retries, unreachable_after 6) and records the wall time
to the NothingCrawled error, the retries and the stop detail in benchmarks/results/crawl_unreachable.json.
"""

from __future__ import annotations

import argparse
import json
import socket
import tempfile
import time
from pathlib import Path

from benchmarks.common import RESULTS, git_commit, machine
from ddikg.config import load_settings
from ddikg.crawler.api import NothingCrawled, run_crawl
from ddikg.crawler.fixture_site.server import fixture_profile_path


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    rows = []
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(home=Path(tmp) / "home", crawl={"profile": str(fixture_profile_path())})
            t = time.perf_counter()
            try:
                run_crawl(settings, Path(tmp) / "raw.jsonl", base_url=dead_url())
                raise SystemExit("the crawl of an unreachable site did not fail")
            except NothingCrawled as exc:
                s = exc.summary
            row = {"repeat": i, "wall_s": round(time.perf_counter() - t, 2), "spider_s": s.seconds,
                   "retries": s.retries, "stopped_reason": s.stopped_reason, "detail": s.stopped_detail,
                   "errors": s.errors, "unreachable_after": settings.crawl.unreachable_after,
                   "download_delay": settings.crawl.download_delay}
            rows.append(row)
            print(json.dumps(row))
    out = RESULTS / "crawl_unreachable.json"
    out.write_text(json.dumps({"command": "python -m benchmarks.crawl_unreachable --repeat "
                                          f"{args.repeat}", "commit": git_commit(), "machine": machine("cpu"),
                               "rows": rows}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(out)


if __name__ == "__main__":
    main()
