"""Where a training step's time goes: torch.profiler over a few of the trainer's steps.

    python -m benchmarks.profile_step --device cuda --batch-sizes 2,32 --steps 20

Prints, per batch size, the wall time per step, the share of it the GPU was busy (sum of kernel
times / wall) and the operators with the most CPU and GPU self time; writes the tables to
``benchmarks/results/profile_step-<device>.txt``. A diagnostic for speed work, not a figure for
docs/results.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchmarks.common import CONLL04, RESULTS, need
from benchmarks.iser_speed import build, model_config, prepared

#: host-side calls that each start one GPU kernel or copy: the host-bound step's unit of cost
LAUNCHES = ("cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel", "cuLaunchKernelEx", "cudaMemcpyAsync")


def profile(batch_size: int, steps: int, device, train_docs, ent, rel, precision: str = "bf16",
            compiled: bool = False) -> str:
    import numpy as np
    import torch
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from ddikg.iser_model.batching import length_batches, to_device
    from ddikg.iser_model.trainer import loss_function, make_optimizer, sampled_batch, train_step

    model, tok = build(model_config("minilm", batch_size=batch_size, train_bf16=precision == "bf16",
                                    compile=compiled), train_docs, ent, rel, device)
    cfg = model.cfg
    items = prepared(model, tok, train_docs)
    rng = np.random.default_rng(0)
    optim = make_optimizer(model)
    loss_fn = loss_function(model)
    batches = length_batches([len(p.input_ids) for p in items], batch_size, rng)
    model.train()
    timing = {"collate": 0.0}

    def step(idx):
        t = time.perf_counter()
        batch = sampled_batch(cfg, items, idx, tok.pad_token_id, rng)
        timing["collate"] += time.perf_counter() - t
        train_step(model, to_device(batch, device), optim, None, device, loss_fn)

    for idx in batches[:3]:
        step(idx)
    cuda = device.type == "cuda"
    audit = sync_audit(step, batches[3:5]) if cuda else ""
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    timing["collate"] = 0.0
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch_profile(activities=acts) as prof:
        for idx in batches[3:3 + steps]:
            step(idx)
        if cuda:
            torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    events = prof.key_averages()
    busy = sum(getattr(e, "self_device_time_total", 0) for e in events) / 1e6 if cuda else None
    launches = sum(e.count for e in events if e.key in LAUNCHES) / steps
    head = (f"batch {batch_size}, {precision}{', compiled' if compiled else ''}: {1000 * wall / steps:.1f} ms/step "
            f"(profiled), collate (negative sampling) {1000 * timing['collate'] / steps:.1f} ms/step"
            + (f", GPU busy {100 * busy / wall:.0f} % of the wall time, {launches:.0f} kernel launches and copies "
               "per step" if cuda else ""))
    parts = [head] + ([audit] if audit else [])
    keys = (["self_device_time_total"] if cuda else []) + ["self_cpu_time_total"]
    for key in keys:
        parts.append(f"-- top operators by {key}")
        parts.append(events.table(sort_by=key, row_limit=22, max_name_column_width=48))
    return "\n".join(parts)


def sync_sites(run) -> list[str]:
    """Call ``run()`` with CUDA's sync debug mode on: the ``file:line`` of every operation in it that
    made the host wait for the GPU."""
    import warnings

    import torch

    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        # the setter's own warning (torch 2.11 reports one at torch/cuda/__init__.py, in set_sync_debug_mode
        # itself, as a stack trace on the H200 showed): not a sync of run()
        del caught[:]
        try:
            run()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return [f"{w.filename}:{w.lineno}" for w in caught if "synchroniz" in str(w.message)]


def sync_audit(step, batches) -> str:
    """:func:`sync_sites` of ``step`` over ``batches``, counted per step and by call site."""
    import collections

    syncs = sync_sites(lambda: [step(idx) for idx in batches])
    where = collections.Counter(syncs)
    lines = [f"device syncs: {len(syncs) / max(1, len(batches)):.1f} per step ({len(batches)} steps)"]
    lines += [f"  {n:>3} x {loc}" for loc, n in where.most_common(12)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="profile_step", description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-sizes", default="2,32")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--precision", default="bf16", help="comma list of bf16,fp32 (autocast or float32 + TF32)")
    ap.add_argument("--compile", action="store_true", help="IserConfig.compile (the 3 warm-up steps compile)")
    ap.add_argument("--train", default=str(CONLL04 / "conll04_train.json"))
    args = ap.parse_args(argv)
    from ddikg.iser_model.inference import configure_host, resolve_device
    from ddikg.iser_model.readers import read_dataset

    device = resolve_device(args.device)
    configure_host(device, None)  # as the trainer does
    ds = read_dataset(need(Path(args.train)), rejects=RESULTS / "profile_step.rejects.jsonl")
    out = [profile(int(b), args.steps, device, ds.documents, ds.entity_types, ds.relation_types, p, args.compile)
           for b in args.batch_sizes.split(",") for p in args.precision.split(",")]
    text = "\n\n".join(out)
    print(text)
    path = RESULTS / f"profile_step-{device.type}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
