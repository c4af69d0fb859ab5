"""``python -m ddikg.crawler.fixture_site --port N``: serve the fixture site until interrupted."""

from __future__ import annotations

import argparse
import sys

from ddikg.crawler.fixture_site.server import FixtureSite, fixture_profile_path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ddikg.crawler.fixture_site", description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--page-size", type=int, default=4, help="drugs per listing page")
    ap.add_argument("--content", default=None, help="drugs.jsonl (default: the packaged fixture content)")
    args = ap.parse_args(argv)
    site = FixtureSite(args.content, host=args.host, port=args.port, page_size=args.page_size)
    print(f"fixture site on {site.base_url} ({len(site.drugs)} drugs, {len(site.categories())} categories); "
          f"faults: POST {site.base_url}/__fixture__/faults; its profile: {fixture_profile_path()}", flush=True)
    try:
        site.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
