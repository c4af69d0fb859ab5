"""How fast ``JsonlReader`` reads a CH-DDI contract file (lines per second), so that reading bytes line
by line (BOM, per-line UTF-8 errors, torn last lines) is seen to cost what it costs.

    python -m benchmarks.jsonl_read [--lines 50000] [--repeat 3] [--against OLD/ddikg/jsonl.py]

Writes a file of the CH-DDI training statements repeated to ``--lines`` lines and reads it through
``ddikg.jsonl.JsonlReader`` (validating every line as a ChddiRecord); records the best and median
lines/s in benchmarks/results/jsonl_read.json. ``--against`` also times the JsonlReader of another
version of ``ddikg/jsonl.py``, runs interleaved with this one's (on a loaded machine the load drifts).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import tempfile
import time
from importlib.resources import as_file
from pathlib import Path

from benchmarks.common import RESULTS, git_commit, machine
from ddikg.annotate.chddi import CHDDI_TRAIN
from ddikg.contracts import ChddiRecord
from ddikg.jsonl import JsonlReader


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS / "jsonl_read.json")
    ap.add_argument("--against", type=Path, help="another ddikg/jsonl.py to time, interleaved")
    args = ap.parse_args(argv)
    with as_file(CHDDI_TRAIN) as src:
        sample = [ln for ln in Path(src).read_text(encoding="utf-8").splitlines() if ln.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corpus.jsonl"
        lines = (sample * (args.lines // len(sample) + 1))[:args.lines]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        size = path.stat().st_size
        load = round(os.getloadavg()[0], 2)
        readers = {"this": JsonlReader}
        if args.against:
            spec = importlib.util.spec_from_file_location("jsonl_against", args.against)
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)  # type: ignore[union-attr]
            readers["against"] = mod.JsonlReader
        rates: dict[str, list[float]] = {k: [] for k in readers}
        for _ in range(args.repeat):
            for name, reader in readers.items():
                t0 = time.perf_counter()
                n = sum(1 for _ in reader(path, ChddiRecord))
                rates[name].append(n / (time.perf_counter() - t0))
    result = {"benchmark": "jsonl_read", "command": f"python -m benchmarks.jsonl_read --lines {args.lines} "
                                                       f"--repeat {args.repeat}"
                                                       + (f" --against {args.against}" if args.against else ""),
              "lines": args.lines, "bytes": size,
              "lines_per_s_best": round(max(rates["this"])),
              "lines_per_s_median": round(statistics.median(rates["this"])),
              **({"against": str(args.against), "against_lines_per_s_best": round(max(rates["against"])),
                  "against_lines_per_s_median": round(statistics.median(rates["against"]))}
                 if args.against else {}),
              "commit": git_commit(), "machine": machine("cpu"),
              "loadavg_1m_before": load, "note": "2-core machine shared with other engineers' tests while measured"}
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps(result, ensure_ascii=False))
    return result


if __name__ == "__main__":
    main()
