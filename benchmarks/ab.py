"""Two versions of the code timed on one machine, in alternation: did a change make a benchmark slower?

    python -m benchmarks.ab prepare 0d9391d            # that commit's code into .device/ab-0d9391d
    python -m benchmarks.ab run .device/ab-0d9391d --runs 2 --out benchmarks/results/ab-train \\
        -- --device cuda --sections train --train-batch-sizes 2 --train-precision fp32
    python -m benchmarks.ab summarize benchmarks/results/ab-train

Lent GPU machines differ more than most changes do: one commit's batch-2 epoch took 11.6 s on one H200
and 15-21 s on another (docs/results.md). Figures from two sessions therefore cannot tell a regression
from a slower host; two trees run on one machine can. ``run`` times the baseline tree and this checkout
with the same ``benchmarks.iser_speed`` arguments (everything after ``--``), in the order
baseline, current, current, baseline, ... so that a drift of the machine during the runs does not
favour either side. Each run writes ``run<N>-<baseline|current>.json``; ``summary.json`` beside them
holds every figure per side and their medians, and ``make_results`` shows it.

A GPU machine has no ``.git``: ``prepare`` copies the code with ``git archive`` into a folder that
travels with the tree (``.device/`` is ignored by git and carried), and writes the commit into it.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.common import REPO, SHARED, git_commit, read_json, write_json

#: the packages a benchmark imports (benchmarks/results stays behind: it is data, and large)
CODE = ("crawler", "annotate", "iser_model", "kg_loader", "flows", "benchmarks", "pyproject.toml")
RUN_FILE = re.compile(r"run(\d+)-(baseline|current)\.json$")


def prepare(commit: str, dest: Path | None = None) -> Path:
    """``commit``'s code, as ``git archive`` gives it, in ``dest`` (default ``.device/ab-<commit>``)."""
    sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", commit], capture_output=True, text=True,
                         check=True).stdout.strip()
    dest = dest or REPO / ".device" / f"ab-{sha}"
    dest.mkdir(parents=True, exist_ok=True)
    paths = [p for p in CODE if subprocess.run(["git", "-C", str(REPO), "cat-file", "-e", f"{sha}:{p}"],
                                               capture_output=True).returncode == 0]
    archive = subprocess.run(["git", "-C", str(REPO), "archive", sha, *paths, ":(exclude)benchmarks/results"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "x", "-C", str(dest)], input=archive, check=True)
    (dest / "COMMIT").write_text(sha + "\n", encoding="utf-8")
    return dest


def run(baseline: Path, out: Path, runs: int, bench_args: list[str], timeout: float | None = None) -> dict:
    """``runs`` runs of each side, alternating (see the module text); then :func:`summarize`."""
    baseline = baseline.resolve()
    commit_file = baseline / "COMMIT"
    if not commit_file.exists():
        raise SystemExit(f"{commit_file} is missing: make the baseline tree with `python -m benchmarks.ab prepare`")
    sides = {"baseline": (baseline, commit_file.read_text(encoding="utf-8").strip()),
             "current": (REPO, git_commit() or "current")}
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    order = [s for i in range(runs) for s in (("baseline", "current") if i % 2 == 0 else ("current", "baseline"))]
    failed = []
    for n, side in enumerate(order, 1):
        tree, commit = sides[side]
        dest = out / f"run{n}-{side}.json"
        env = dict(os.environ, DDIKG_COMMIT=commit, DDIKG_SHARED=str(SHARED.resolve()),
                   PYTHONPATH=os.pathsep.join([str(tree), *filter(None, [os.environ.get("PYTHONPATH")])]))
        cmd = [sys.executable, "-m", "benchmarks.iser_speed", *bench_args, "--out", str(dest)]
        print(f"== run {n}/{len(order)}: {side} ({commit})", flush=True)
        try:
            proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=timeout)
            rc, tail = proc.returncode, (proc.stdout + proc.stderr)[-2000:]
        except subprocess.TimeoutExpired:
            rc, tail = "timeout", ""
        if rc != 0:
            print(f"   failed ({rc}):\n{tail}", flush=True)
            failed.append({"run": n, "side": side, "commit": commit, "exit": rc, "output_tail": tail[-500:]})
    return summarize(out, failed)


def figures(payload: dict) -> dict[str, tuple[float, str]]:
    """The comparable figures of one ``iser_speed`` result: setting -> (value, unit)."""
    out: dict[str, tuple[float, str]] = {}
    for r in payload.get("training", []):
        name = f"train, batch {r['batch_size']}, {r.get('precision') or '?'}" + (", compiled" if r.get("compiled")
                                                                                 else "")
        out[name] = (r["seconds_per_epoch"], "s/epoch")
        for q, ms in (r.get("step_ms") or {}).items():  # where the time went: every step, or a few
            out[f"{name}, step {q}"] = (ms, "ms")
    for section in ("inference", "cpu_inference"):
        for r in payload.get(section, {}).get("curve", []):
            out[f"{section}, batch {r['batch_size']}"] = (r["sentences_per_second"], "sentences/s")
    return out


def summarize(out: Path, failed: list[dict] | None = None) -> dict:
    """``summary.json`` of the ``run<N>-<side>.json`` files in ``out``: each figure's values per side in
    run order, their median, and the current side's median over the baseline's; ``failed``: the runs
    that wrote no result (kept in the summary, so a side with fewer values says why)."""
    found = sorted((int(m[1]), m[2], path) for path in out.glob("run*.json") if (m := RUN_FILE.search(path.name)))
    runs = []
    for n, side_name, path in found:
        payload = read_json(path)
        runs.append({"run": n, "side": side_name, "commit": payload["machine"].get("commit"),
                     "time_utc": payload["machine"].get("time_utc"), "host_op_us": payload["machine"].get("host_op_us"),
                     "gpu": payload["machine"].get("gpu"), "figures": figures(payload)})
    if not runs:
        raise SystemExit(f"{out}: no run<N>-<baseline|current>.json files" + (f" ({len(failed)} runs failed)"
                                                                            if failed else ""))
    settings: dict[str, dict] = {}
    for r in runs:
        for name, (value, unit) in r["figures"].items():
            s = settings.setdefault(name, {"unit": unit, "sides": {}})
            side = s["sides"].setdefault(r["side"], {"commit": r["commit"], "values": []})
            side["values"].append(value)
    for s in settings.values():
        for side in s["sides"].values():
            side["median"] = round(statistics.median(side["values"]), 3)
        if {"baseline", "current"} <= s["sides"].keys():
            s["current_over_baseline"] = round(s["sides"]["current"]["median"] / s["sides"]["baseline"]["median"], 3)
    summary = {"benchmark": "ab", "device": runs[0]["gpu"] or "CPU", "time_utc": runs[0]["time_utc"],
               "runs": [{k: v for k, v in r.items() if k not in ("figures", "gpu")} for r in runs],
               "settings": settings, "failed": failed or []}
    write_json(out / "summary.json", summary)
    for name, s in settings.items():
        sides = "; ".join(f"{side} {v['commit']}: {', '.join(str(x) for x in v['values'])} (median {v['median']})"
                          for side, v in sorted(s["sides"].items()))
        ratio = f"; current/baseline {s['current_over_baseline']}" if "current_over_baseline" in s else ""
        print(f"{name} [{s['unit']}]: {sides}{ratio}")
    return summary


def main(argv: list[str] | None = None) -> dict | Path:
    argv = sys.argv[1:] if argv is None else argv
    bench_args: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, bench_args = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(prog="ab", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="git archive a commit's code into a folder that travels to a GPU machine")
    p.add_argument("commit")
    p.add_argument("--dest", type=Path, default=None)
    r = sub.add_parser("run", help="alternate runs of the baseline tree and this checkout (benchmark args after --)")
    r.add_argument("baseline", type=Path)
    r.add_argument("--runs", type=int, default=2, help="runs of each side")
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--timeout", type=float, default=None, help="seconds per run")
    s = sub.add_parser("summarize", help="rewrite summary.json of a run folder")
    s.add_argument("out", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "prepare":
        dest = prepare(args.commit, args.dest)
        print(dest)
        return dest
    if args.cmd == "run":
        if not bench_args:
            ap.error("run: give the benchmarks.iser_speed arguments after --")
        return run(args.baseline, args.out, args.runs, bench_args, args.timeout)
    return summarize(args.out)


if __name__ == "__main__":
    main()
