"""Scaling out: sharded extraction on Dask against in-process extraction, and data-parallel training
(torchrun, DDP on CPU) against a single process. Not a test: it prints figures and saves JSON. Run it
when the machine is otherwise idle::

    python -m benchmarks.scale_bench extract --model DIR    # an ISER checkpoint (e.g. <home>/models/current)
    python -m benchmarks.scale_bench extract                # trains a demo-preset model first (--train-seconds)
    python -m benchmarks.scale_bench train --seeds 1,2 --epochs 10

``extract``: the fixture site's drugs, segmented, ``--copies`` times (copy k renames each drug, so the
copies are separate drugs). Inside one Prefect flow run, build-kg's extract stage
(``ddikg.flows.build_kg.extract_stage``) extracts them, each time into an empty home:

1. in this process, torch at 1 thread (``runner`` in-process);
2. on an existing local Dask cluster of ``--workers`` single-threaded worker processes (started and warmed up
   before the clock starts: what ``--dask-address`` gives), each worker loading the model once;
3. with ``runner.workers`` = ``--workers``: the run starts its own local cluster (its start is timed in).

It prints statements/s, the ratios to (1), and whether the joined triples are identical to (1) (every
field but ``extracted_at`` and ``run_id``). The CPU load average is recorded before and after each run.

``train``: the demo preset on the repository's sample corpus (dev = the sample test set), per seed once
as one process at batch 2B and once as ``torchrun --nproc-per-node 2`` (gloo) at batch B per process:
dev NER/RE micro F1 of the best checkpoint and wall time of each.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import RESULTS, machine  # noqa: E402
from ddikg.config import load_settings  # noqa: E402


def build_corpus(path: Path, copies: int) -> int:
    """The fixture site's drugs, ``copies`` times over, as segmented CH-DDI statements; returns the count."""
    from ddikg.annotate.segment import segment_record
    from ddikg.contracts import RawDrugRecord
    from ddikg.crawler.fixture_site.content import load_content
    from ddikg.jsonl import write_jsonl

    records = []
    for k in range(copies):
        for d in load_content():
            raw = RawDrugRecord(drug_id=f"{d.drug_id}-{k}", name=d.name + (f"（{k}）" if k else ""),
                                url=f"http://fixture/drug/{d.drug_id}-{k}", sections=d.sections)
            records += segment_record(raw)
    write_jsonl(path, records)
    return sum(1 for r in records if not (r.meta and r.meta.boilerplate))


def train_model(out: Path, seconds: float) -> Path:
    from ddikg.annotate.chddi import CHDDI_DEV, CHDDI_TRAIN
    from ddikg.iser_model import api
    from ddikg.iser_model.presets import demo_config

    cfg = demo_config().model_copy(update={"max_seconds": seconds, "device": "cpu", "model_id": "iser-bench"})
    api.train(str(CHDDI_TRAIN), str(CHDDI_DEV), out, config=cfg, progress=False)
    return out


def comparable(triples: Path) -> list[str]:
    rows = []
    for line in triples.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            row.pop("extracted_at", None)
            row.pop("run_id", None)
            rows.append(json.dumps(row, ensure_ascii=False, sort_keys=True))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    ex = sub.add_parser("extract")
    ex.add_argument("--model", type=Path, help="ISER checkpoint directory (default: train a demo-preset model)")
    ex.add_argument("--train-seconds", type=float, default=60.0)
    ex.add_argument("--copies", type=int, default=2, help="fixture site copies (446 statements each)")
    ex.add_argument("--workers", type=int, default=2)
    ex.add_argument("--shard-statements", type=int, default=None, help="default: settings.runner's")
    ex.add_argument("--skip-own-cluster", action="store_true", help="leave out run 3")
    ex.add_argument("--out", type=Path, default=RESULTS / "scale_bench-extract.json")
    tr = sub.add_parser("train")
    tr.add_argument("--seeds", default="1,2")
    tr.add_argument("--epochs", type=int, default=10)
    tr.add_argument("--batch", type=int, default=4, help="per process; the single process trains at twice it")
    tr.add_argument("--out", type=Path, default=RESULTS / "scale_bench-train.json")
    args = ap.parse_args()
    if args.what == "train":
        return bench_train(args)
    bench_extract(args)


def bench_extract(args) -> None:

    root = Path(tempfile.mkdtemp(prefix="ddikg-scale-bench-"))
    base = load_settings(home=root / "base")
    from ddikg.flows.prefect_env import configure_prefect

    configure_prefect(base)  # before prefect is imported: state under the temporary home
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    import torch

    torch.set_num_threads(1)
    corpus = root / "corpus.jsonl"
    n = build_corpus(corpus, args.copies)
    model = args.model or train_model(root / "model", args.train_seconds)
    runner = {"shard_statements": args.shard_statements} if args.shard_statements else {}
    shard_statements = args.shard_statements or base.runner.shard_statements

    from prefect import flow

    from ddikg.flows.build_kg import extract_stage
    from ddikg.flows.fingerprint import model_key

    mkey = model_key(Path(model))

    def run(name: str, **runner_extra) -> dict:
        settings = load_settings(home=root / name, model={"device": "cpu"}, runner={**runner, **runner_extra})
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        ext = extract_stage(settings, Path(model), mkey, corpus, f"bench-{name}")
        seconds = time.perf_counter() - t0
        row = {"seconds": round(seconds, 2), "statements_per_s": round(ext["statements"] / seconds, 2),
               "shards": ext["shards"], "processes": ext["processes"], "model_loads": ext["model_loads"],
               "busy_seconds": ext["busy_seconds"], "cpu_seconds": ext["cpu_seconds"],
               "cpu_ms_per_statement": round(1000 * ext["cpu_seconds"] / max(1, ext["statements"]), 2),
               "statements": ext["statements"], "load_average_before_after": [round(load0, 2),
                                                                             round(os.getloadavg()[0], 2)],
               "triples_file": ext["triples"]}
        print(f"{name:>22}: {row['statements']} statements in {seconds:6.1f} s = {row['statements_per_s']:6.1f}/s "
              f"({row['shards']} shards, {row['processes']} process(es), {ext['busy_seconds']:.1f} s busy extracting, "
              f"{ext['cpu_seconds']:.1f} CPU s, "
              f"load {row['load_average_before_after']})",
              flush=True)
        return row

    results: dict[str, dict] = {}

    @flow(name="scale-bench", validate_parameters=False)
    def bench() -> None:
        results["in_process"] = run("in_process")
        from distributed import Client, LocalCluster

        from ddikg.flows.tasks import prefect_api_url

        # an existing cluster's workers know the Prefect API from their environment
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None,
                          env={"PREFECT_API_URL": prefect_api_url()}) as lc, Client(lc) as client:
            client.run(lambda: __import__("ddikg.iser_model.api"))  # imports done before the clock starts
            results["dask_cluster"] = run("dask_cluster", dask_address=lc.scheduler_address)
        if not args.skip_own_cluster:
            results["dask_own_cluster"] = run("dask_own_cluster", workers=args.workers)

    bench()
    ref = comparable(Path(results["in_process"]["triples_file"]))
    for name, row in results.items():
        row["triples"] = len(comparable(Path(row["triples_file"])))
        row["triples_identical_to_in_process"] = comparable(Path(row["triples_file"])) == ref
        row["ratio_to_in_process"] = round(row["statements_per_s"] / results["in_process"]["statements_per_s"], 3)
        row.pop("triples_file")
        print(f"{name:>22}: x{row['ratio_to_in_process']:.2f} statements/s; {row['triples']} triples, identical to "
              f"in-process: {row['triples_identical_to_in_process']}")
    out = {"command": command(), "statements": n,
           "copies": args.copies, "workers": args.workers, "shard_statements": shard_statements,
           "model": str(model), "model_key": mkey, "results": results, "machine": machine("cpu")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"saved {args.out}")


def command() -> str:
    return " ".join(["python -m benchmarks.scale_bench", *sys.argv[1:]])


def bench_train(args) -> None:
    import subprocess

    from ddikg.annotate.chddi import CHDDI_DEV, CHDDI_TRAIN
    from ddikg.iser_model.presets import demo_config

    root = Path(tempfile.mkdtemp(prefix="ddikg-scale-train-"))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1",
           "DDIKG_HOME": str(root / "home")}
    runs = []
    for seed in [int(x) for x in args.seeds.split(",")]:
        for name, procs, batch in (("one_process", 1, 2 * args.batch), ("torchrun_2", 2, args.batch)):
            cfg = demo_config().model_copy(update={"seed": seed, "epochs": args.epochs, "batch_size": batch,
                                                   "max_seconds": None, "eval_every": max(1, args.epochs // 2),
                                                   "device": "cpu", "model_id": f"iser-{name}-s{seed}"})
            cfg_path = root / f"{name}-{seed}.json"
            cfg.save(cfg_path)
            out = root / f"{name}-{seed}"
            launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={procs}",
                        "-m"] if procs > 1 else [sys.executable, "-m"]
            load0 = os.getloadavg()[0]
            t0 = time.perf_counter()
            proc = subprocess.run([*launcher, "ddikg.cli", "train", "--train", str(CHDDI_TRAIN), "--dev",
                                   str(CHDDI_DEV), "--out", str(out), "--config", str(cfg_path), "--no-progress"],
                                  env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - t0
            if proc.returncode:
                raise SystemExit(f"{name} seed {seed} failed:\n{proc.stderr[-3000:]}")
            best = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
            rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
            row = {"run": name, "seed": seed, "processes": procs, "batch_per_process": batch,
                   "global_batch": batch * procs, "epochs": len(rows), "seconds": round(seconds, 1),
                   "dev_ner_f1": round(best["ner"]["micro"]["f1"], 4), "dev_re_f1": round(best["re"]["micro"]["f1"], 4),
                   "final_loss": round(rows[-1]["loss"], 4), "loss_by_epoch": [round(r["loss"], 4) for r in rows],
                   "load_average_before_after": [round(load0, 2), round(os.getloadavg()[0], 2)]}
            runs.append(row)
            print(f"{name:>12} seed {seed}: dev NER F1 {row['dev_ner_f1']:.3f}  RE F1 {row['dev_re_f1']:.3f}  "
                  f"loss {row['final_loss']:.4f}  {seconds:.0f} s  (load {row['load_average_before_after']})",
                  flush=True)
    out = {"command": command(), "epochs": args.epochs, "runs": runs, "machine": machine("cpu")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
