"""How long `make demo` takes from a fresh clone, install included, and what it answered.

Not a test: it prints figures. Clones this repository (its committed HEAD) into a temporary
directory, runs ``make demo`` there (a new virtual environment: pip, torch, ddikg; then ``ddikg demo``)
and records the wall time of the install and of the demo, the machine's load before and after, and the
demo's closing answer (the interactions it printed)::

    python -m benchmarks.demo_time                  # -> benchmarks/results/demo_time.json
    python -m benchmarks.demo_time --keep /tmp/d    # keep the clone

The target is 5 minutes in all on a 2-core machine. The load is recorded because the machine may be
shared: a figure taken at load 3 on 2 cores says more about the neighbours than about the demo.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import REPO, RESULTS, git_commit, write_json  # noqa: E402


def timed(cmd: list[str], cwd: Path, log: Path) -> tuple[float, int]:
    t0 = time.perf_counter()
    with log.open("w", encoding="utf-8") as f:
        rc = subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT).returncode
    return time.perf_counter() - t0, rc


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", type=Path, help="clone here and keep it (default: a temporary directory)")
    ap.add_argument("--out", type=Path, default=RESULTS / "demo_time.json")
    args = ap.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="ddikg-demo-"))
    clone = work / "ddikg"
    try:
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        if (REPO.parent / "shared").exists() and not (work / "shared").exists():
            (work / "shared").symlink_to(REPO.parent / "shared")  # as beside a checkout; the demo reads none of it
        load_before = os.getloadavg()
        install_s, rc_i = timed(["make", "install"], clone, work / "install.log")
        demo_s, rc_d = timed(["make", "demo"], clone, work / "demo.log")
        load_after = os.getloadavg()
        log = (work / "demo.log").read_text(encoding="utf-8", errors="replace")
        answer = log[log.rfind("What interacts with"):] if "What interacts with" in log else ""
        rec = {"commit": git_commit(), "install_seconds": round(install_s, 1), "demo_seconds": round(demo_s, 1),
               "total_seconds": round(install_s + demo_s, 1), "target_seconds": 300,
               "returncodes": {"install": rc_i, "demo": rc_d}, "cpu_count": os.cpu_count(),
               "load_average_before": [round(x, 2) for x in load_before],
               "load_average_after": [round(x, 2) for x in load_after],
               "answer_edges": len(re.findall(r"^\s+\S.*score ", answer, flags=re.M)),
               "answer": answer.strip().splitlines()[:40], "demo_log_tail": log.strip().splitlines()[-60:],
               "command": "python -m benchmarks.demo_time"}
        write_json(args.out, rec)
        print(f"install {rec['install_seconds']} s + demo {rec['demo_seconds']} s = {rec['total_seconds']} s "
              f"(target 300 s; load {rec['load_average_before'][0]} -> {rec['load_average_after'][0]}); "
              f"{rec['answer_edges']} interactions in the answer; exit codes {rec['returncodes']}")
        if rc_i or rc_d:
            raise SystemExit(f"make failed: see {work}/install.log and {work}/demo.log")
    finally:
        if (clone / ".venv" / "bin" / "ddikg").exists():  # the demo leaves its graph server up for queries
            subprocess.run([str(clone / ".venv" / "bin" / "ddikg"), "graph", "stop"], cwd=clone,
                           capture_output=True)
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
