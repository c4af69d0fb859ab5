"""AdamW step plus gradient clipping over ISER's parameters, per implementation (default loop, foreach, fused).

    python -m benchmarks.optimizer_step --device cpu --threads 2

Why: on the CPU torch's default AdamW loops over the parameters (MiniLM ISER: 135 tensors), several
small kernels each; the trainer uses the fused kernel on every device (``trainer.make_optimizer``).
Prints milliseconds per step: the evidence for the trainer's choice (quoted in docs/results.md).
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> dict:
    import torch

    from benchmarks.common import CONLL04, RESULTS, need
    from benchmarks.iser_speed import _sync, build, model_config
    from ddikg.iser_model.inference import configure_host, resolve_device
    from ddikg.iser_model.readers import read_dataset

    ap = argparse.ArgumentParser(prog="optimizer_step", description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args(argv)
    device = resolve_device(args.device)
    configure_host(device, args.threads)
    ds = read_dataset(need(CONLL04 / "conll04_train.json"), rejects=RESULTS / "optimizer_step.rejects.jsonl")
    model, _ = build(model_config("minilm", bf16=False), ds.documents[:50], ds.entity_types, ds.relation_types,
                     device)
    params = list(model.parameters())
    for p in params:
        p.grad = torch.randn_like(p) * 1e-3
    print(f"{len(params)} tensors, {sum(p.numel() for p in params) / 1e6:.1f} M parameters on {device}")
    out = {}
    for name, kw in (("default", {}), ("foreach", {"foreach": True}), ("fused", {"fused": True})):
        opt = torch.optim.AdamW(params, lr=1e-5, weight_decay=0.01, **kw)

        def step(opt=opt):
            torch.nn.utils.clip_grad_norm_(params, 1.0, foreach=True)
            opt.step()

        for _ in range(3):
            step()
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step()
        _sync(device)
        out[name] = 1000 * (time.perf_counter() - t0) / args.steps
        print(f"AdamW {name}: {out[name]:.1f} ms per step (clip + step, {args.steps} steps)")
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
