"""How many operators one training step dispatches: the unit of cost of a launch-bound GPU step.

    python -m benchmarks.step_ops --device cpu --batch-size 2 --steps 8

At batch 2 an H200 is busy for a small part of ISER's step; the rest is the host issuing small kernels
(docs/results.md). This counts, per step of the trainer (``trainer.train_step``: collated batch, loss,
backward, clipping, fused AdamW), the ATen operators that reach a kernel (views, allocations and
metadata calls excluded), split into forward, backward and optimizer, with the most frequent ones. The
count is exact and hardly depends on the device, so a session without a GPU can measure a change
that removes launches. RNN calls count as one operator forward and one backward, as cuDNN runs them
(on the CPU each would be a loop of cell operators, one per time step). Writes
``benchmarks/results/step_ops-<device>.json`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

from benchmarks.common import CONLL04, RESULTS, machine, need, write_json

#: operators that launch no kernel: views, allocations, metadata and scalar reads
NO_KERNEL = frozenset({
    "view", "_unsafe_view", "expand", "permute", "transpose", "t", "unsqueeze", "squeeze", "select", "slice",
    "alias", "as_strided", "detach", "unbind", "split", "split_with_sizes", "_reshape_alias", "reshape",
    "narrow", "lift_fresh", "empty", "empty_strided", "new_empty", "new_empty_strided", "diagonal", "unfold",
    "chunk", "_local_scalar_dense", "is_nonzero", "sym_size", "sym_stride", "sym_numel",
    "sym_storage_offset", "_record_function_enter_new", "_record_function_exit", "view_as_real",
})
PHASES = ("forward", "backward", "optimizer")
RNN, RNN_BACKWARD = "rnn (one cuDNN call)", "rnn backward (one cuDNN call)"


def count_step_ops(model, run_steps, device) -> dict[str, collections.Counter]:
    """Operators dispatched while ``run_steps(loss_fn)`` runs, by phase: forward (inside ``loss_fn``),
    backward (inside autograd's engine) and optimizer (everything else of the step)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    counts = {p: collections.Counter() for p in PHASES}
    in_forward = [False]

    class Census(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = func.overloadpacket.__name__
            if name not in NO_KERNEL:
                counts[_phase(in_forward[0])][name] += 1
            return func(*args, **(kwargs or {}))

    def loss_fn(batch):
        in_forward[0] = True
        try:
            return model.loss(batch)
        finally:
            in_forward[0] = False

    restore = _rnn_as_one_op(model, counts, in_forward) if device.type == "cpu" else (lambda: None)
    try:
        with Census():
            run_steps(loss_fn)
    finally:
        restore()
    return counts


def _phase(in_forward: bool) -> str:
    import torch

    if in_forward:
        return "forward"
    # inside loss.backward(): autograd's engine runs a graph task (the CPU engine runs it on this thread)
    return "backward" if torch._C._current_graph_task_id() != -1 else "optimizer"


def _rnn_as_one_op(model, counts, in_forward):
    """Make each nn.GRU / nn.LSTM call of ``model`` count as one operator forward and one backward
    (cuDNN's ``_cudnn_rnn`` and its backward) instead of the CPU's per-time-step cells. Returns the undo."""
    import torch
    from torch import nn
    from torch.utils._python_dispatch import _disable_current_modes

    class Opaque(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, cell, *params):
            with _disable_current_modes(), torch.enable_grad():
                xi = x.detach().requires_grad_()
                out, _ = cell.__class__.forward(cell, xi)
            ctx.saved = (xi, out, params)
            counts["forward"][RNN] += 1
            return out.detach()

        @staticmethod
        def backward(ctx, grad):
            xi, out, params = ctx.saved
            with _disable_current_modes():
                grads = torch.autograd.grad(out, (xi, *params), grad, allow_unused=True)
            counts["backward"][RNN_BACKWARD] += 1
            return grads[0], None, *grads[1:]

    cells = [m for m in model.modules() if isinstance(m, nn.RNNBase)]
    for cell in cells:
        # BiRNN reads only the outputs; the final states are not part of this stand-in
        cell.forward = lambda x, hx=None, cell=cell: (Opaque.apply(x, cell, *cell.parameters()), None)

    def undo():
        for cell in cells:
            del cell.forward

    return undo


def measure(encoder: str, batch_size: int, steps: int, device, train: Path, precision: str = "fp32",
            sentences: int | None = None) -> dict:
    import numpy as np

    from benchmarks.iser_speed import build, model_config, prepared
    from ddikg.iser_model.batching import length_batches, to_device
    from ddikg.iser_model.readers import read_dataset
    from ddikg.iser_model.trainer import make_optimizer, sampled_batch, train_step

    ds = read_dataset(need(train), rejects=RESULTS / "step_ops.rejects.jsonl")
    docs = ds.documents[:sentences] if sentences else ds.documents
    model, tok = build(model_config(encoder, batch_size=batch_size, train_bf16=precision == "bf16"), docs,
                       ds.entity_types, ds.relation_types, device)
    cfg = model.cfg
    items = prepared(model, tok, docs)
    rng = np.random.default_rng(0)
    optim = make_optimizer(model)
    batches = length_batches([len(p.input_ids) for p in items], batch_size, rng)
    model.train()

    def step(idx, loss_fn=None):
        train_step(model, to_device(sampled_batch(cfg, items, idx, tok.pad_token_id, rng), device), optim, None,
                   device, loss_fn)

    step(batches[0])  # lazy initialisation outside the count
    timed = batches[1:1 + steps]
    counts = count_step_ops(model, lambda loss_fn: [step(idx, loss_fn) for idx in timed], device)
    n = max(1, len(timed))
    per_step = {p: round(sum(c.values()) / n, 1) for p, c in counts.items()}
    per_step["total"] = round(sum(per_step.values()), 1)
    everything = sum(counts.values(), collections.Counter())
    return {"encoder": encoder, "batch_size": batch_size, "precision": precision, "steps": len(timed),
            "sentences_per_step": round(sum(len(b) for b in timed) / n, 2), "ops_per_step": per_step,
            # index_put with accumulation (advanced indexing's backward) sorts its indexes on CUDA
            "index_put_per_step": round(everything["index_put"] / n, 1),
            "rnn_calls_per_step": {"forward": round(everything[RNN] / n, 1),
                                   "backward": round(everything[RNN_BACKWARD] / n, 1)},
            "top": {p: {k: round(v / n, 1) for k, v in c.most_common(15)} for p, c in counts.items()}}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="step_ops", description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--precision", default="fp32", help="fp32 or bf16 (autocast; its casts are operators too)")
    ap.add_argument("--encoder", default="minilm", help="minilm | scratch | tiny")
    ap.add_argument("--train", type=Path, default=CONLL04 / "conll04_train.json")
    ap.add_argument("--sentences", type=int, default=None, help="read only the first N training sentences")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    from ddikg.iser_model.inference import configure_host, resolve_device

    device = resolve_device(args.device)
    configure_host(device, None)
    out = {"benchmark": "step_ops", "machine": machine(str(device))}
    out |= measure(args.encoder, args.batch_size, args.steps, device, args.train, args.precision, args.sentences)
    ops = out["ops_per_step"]
    print(f"{args.encoder}, batch {args.batch_size}, {args.precision}, {out['steps']} steps on {device}: "
          f"{ops['total']:.0f} operators per step (forward {ops['forward']:.0f}, backward {ops['backward']:.0f}, "
          f"optimizer {ops['optimizer']:.0f}); index_put {out['index_put_per_step']:.0f}")
    for phase in PHASES:
        print(f"  {phase}: " + ", ".join(f"{k} {v:g}" for k, v in out["top"][phase].items()))
    path = write_json(args.out or RESULTS / f"step_ops-{device.type}.json", out)
    print(f"wrote {path}")
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
