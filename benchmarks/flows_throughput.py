"""Per-stage throughput of build-kg runs, read from their run summaries (``<home>/runs/*/summary.json``).

    python -m benchmarks.flows_throughput data            # after `ddikg demo` (home ./data)
    python -m benchmarks.flows_throughput /path/to/home --all

Prints, for each run that processed drugs, the wall seconds per stage and crawl pages/s, segment
statements/s, extract sentences/s and load triples/s as the flow measured them (docs/scaling.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("home", type=Path)
    ap.add_argument("--all", action="store_true", help="also runs that processed nothing")
    args = ap.parse_args()
    paths = sorted((args.home / "runs").glob("*/summary.json"))
    if not paths:
        raise SystemExit(f"no run summaries under {args.home / 'runs'}")
    cols = ["run", "drugs", "statements", "triples", "model s", "crawl s", "extract s", "load s",
            "pages/s", "stmts/s", "sent/s", "rows/s"]
    print(" | ".join(cols))
    for p in paths:
        s = json.loads(p.read_text(encoding="utf-8"))
        if not s["drugs_processed"] and not args.all:
            continue
        sec, thr = s.get("seconds", {}), s.get("throughput", {})
        row = [s["run_id"], len(s["drugs_processed"]), s["statements"], s["triples"],
               *(f"{sec.get(k, 0):.1f}" for k in ("model", "crawl", "extract", "load")),
               *(f"{thr[k]:.1f}" if k in thr else "-" for k in ("crawl_pages_per_s", "segment_statements_per_s",
                                                               "extract_sentences_per_s", "load_rows_per_s"))]
        print(" | ".join(str(x) for x in row))


if __name__ == "__main__":
    main()
