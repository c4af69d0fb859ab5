"""Training loop: AdamW + linear warm-up/decay, gradient clipping, float32 with TF32 matmuls (or bf16
autocast) on CUDA, length-bucketed batches, dev evaluation every N epochs, best checkpoint by dev RE
micro F1, metrics JSONL + PNG curves."""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase, get_linear_schedule_with_warmup

from ddikg.contracts import SpanDocument
from ddikg.iser_model import distributed
from ddikg.iser_model.batching import Prepared, collate_train, length_batches, prepare, to_device
from ddikg.iser_model.checkpoint import save_checkpoint
from ddikg.iser_model.config import IserConfig
from ddikg.iser_model.evaluator import evaluate_predictions, gold_sets
from ddikg.iser_model.inference import autocast, predict
from ddikg.iser_model.model import IserModel
from ddikg.iser_model.sampling import sample_rng
from ddikg.jsonl import append_jsonl
from ddikg.progress import track


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class History:
    epochs: list[dict] = field(default_factory=list)
    best: dict | None = None  # validation figures of the selected epoch
    best_epoch: int = 0
    last: dict | None = None  # validation figures of the last evaluated epoch
    last_epoch: int = 0
    test_selected: dict | None = None  # the reported set, at the selected and at the last epoch
    test_last: dict | None = None

    def summary(self) -> dict:
        """The figures training reports (``training_metrics.json``): the selected and the last epoch,
        each on validation and, when given, on the test set."""
        return {"selected": {"epoch": self.best_epoch, "validation": self.best, "test": self.test_selected},
                "last": {"epoch": self.last_epoch, "validation": self.last, "test": self.test_last}}


def evaluate_documents(model: IserModel, tokenizer: PreTrainedTokenizerBase, docs: list[SpanDocument],
                       device: torch.device, batch_size: int, progress: bool = False,
                       max_entities: int | None = None) -> dict:
    """Predict every document and score against its gold entities/relations (word level), decoding as the
    paper and SpERT (every ordered pair of predicted entities; ``max_entities`` caps them, for measuring
    that cap only)."""
    cfg = model.cfg
    items, _ = prepare(docs, tokenizer, cfg.max_length, cfg.max_span_width, cfg.entity_types, cfg.relation_types)
    pred_e: list[set] = [set() for _ in docs]
    pred_r: list[set] = [set() for _ in docs]
    for i, p in track(predict(model, items, tokenizer.pad_token_id, batch_size=batch_size, device=device,
                              max_entities=max_entities),
                      "evaluate", total=len(items), enabled=progress, unit="sentences", transient=True):
        ents = [(s, e, t) for s, e, t, _ in p.entities]
        pred_e[i] = set(ents)
        pred_r[i] = {(ents[h], ents[t], r) for h, t, r, _ in p.relations}
    gold = [gold_sets(d) for d in docs]
    return evaluate_predictions([g[0] for g in gold], [g[1] for g in gold], pred_e, pred_r)


def fit(model: IserModel, tokenizer: PreTrainedTokenizerBase, train_docs: list[SpanDocument],
        val_docs: list[SpanDocument], out_dir: Path, device: torch.device, progress: bool = True,
        test_docs: list[SpanDocument] | None = None) -> History:
    """Train; keep the checkpoint of the best validation epoch (``val_docs``); evaluate ``test_docs`` (never
    used to select) with the last epoch's weights and with the selected checkpoint's."""
    cfg = model.cfg
    ctx = distributed.context()  # under torchrun: this process's rank; rank 0 alone evaluates and writes
    progress = progress and ctx.is_main
    seed_everything(cfg.seed)
    rng = np.random.default_rng(cfg.seed)  # the same shuffle in every process
    model.to(device)
    items, stats = prepare(train_docs, tokenizer, cfg.max_length, cfg.max_span_width, cfg.entity_types,
                           cfg.relation_types)
    lengths = [len(p.input_ids) for p in items]
    steps_per_epoch = math.ceil(len(items) / (cfg.batch_size * ctx.world))
    optim = make_optimizer(model)
    loss_fn = distributed.data_parallel_loss(model, device, ctx) if ctx.active else loss_function(model)
    total = steps_per_epoch * cfg.epochs
    sched = get_linear_schedule_with_warmup(optim, int(cfg.warmup * total), total)
    metrics_path = out_dir / "metrics.jsonl"
    if ctx.is_main:
        metrics_path.unlink(missing_ok=True)
    hist = History()
    started = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        batches = distributed.rank_batches(length_batches(lengths, cfg.batch_size * ctx.world, rng), ctx)
        loss_sum = 0.0
        bar = track(batches, f"epoch {epoch}/{cfg.epochs}", enabled=progress, unit="steps")
        steps_done = skipped = 0
        for idx in bar:
            if cfg.max_seconds is not None and distributed.any_rank(
                    time.perf_counter() - started > cfg.max_seconds, ctx):
                break  # out of time mid-epoch: evaluate what has been learnt rather than lose it
            steps_done += 1
            batch = to_device(sampled_batch(cfg, items, idx, tokenizer.pad_token_id, rng, epoch), device)
            value = train_step(model, batch, optim, sched, device, loss_fn)
            if value is None:
                skipped += 1
                continue
            loss_sum += value
            bar.info(f"loss {value:.4f}")
        bar.close()
        seconds = time.perf_counter() - t0
        done = sum(len(b) for b in batches[:steps_done]) * ctx.world
        loss_sum = distributed.mean_over_ranks(loss_sum, ctx)  # each process's loss is its share of the global one
        row = {"epoch": epoch, "loss": loss_sum / max(1, steps_done - skipped), "seconds": seconds,
               "sentences_per_second": done / seconds if seconds else 0.0}
        if skipped:
            row["skipped_nonfinite_steps"] = skipped
        if steps_done < len(batches):
            row["partial_epoch"] = round(steps_done / len(batches), 3)
        out_of_time = distributed.any_rank(
            cfg.max_seconds is not None and time.perf_counter() - started > cfg.max_seconds, ctx)
        if ctx.is_main and (epoch % cfg.eval_every == 0 or epoch == cfg.epochs or out_of_time):
            m = evaluate_documents(model, tokenizer, val_docs, device, cfg.eval_batch_size, progress)
            row |= {"val_ner_f1": m["ner"]["micro"]["f1"], "val_re_f1": m["re"]["micro"]["f1"],
                    "val_re_macro_f1": m["re"]["macro"]["f1"]}
            hist.last, hist.last_epoch = m, epoch
            better = hist.best is None or (m["re"]["micro"]["f1"], m["ner"]["micro"]["f1"]) > (
                hist.best["re"]["micro"]["f1"], hist.best["ner"]["micro"]["f1"])
            if better:
                hist.best, hist.best_epoch = m, epoch
                save_checkpoint(out_dir, model, tokenizer, m,
                                note=f"Selected epoch {epoch} of {cfg.epochs} (best validation RE micro F1).")
        hist.epochs.append(row)
        if ctx.is_main:
            append_jsonl(metrics_path, [row])
        if out_of_time:
            break
    if ctx.is_main and test_docs is not None and hist.best is not None:
        hist.test_last = evaluate_documents(model, tokenizer, test_docs, device, cfg.eval_batch_size, progress)
        if hist.best_epoch == hist.last_epoch:
            hist.test_selected = hist.test_last
        else:  # the selected epoch's weights, as saved
            from safetensors.torch import load_file

            model.load_state_dict(load_file(str(out_dir / "model.safetensors")))
            hist.test_selected = evaluate_documents(model, tokenizer, test_docs, device, cfg.eval_batch_size, progress)
    if ctx.is_main:
        (out_dir / "training_metrics.json").write_text(json.dumps(hist.summary(), indent=2, ensure_ascii=False)
                                                       + "\n", encoding="utf-8")
        plot_curves(hist.epochs, out_dir / "training_curves.png", hist.best_epoch)
    return hist


def sampled_batch(cfg: IserConfig, items: list[Prepared], idx, pad_id: int, rng: np.random.Generator,
                  epoch: int | None = None) -> dict[str, torch.Tensor]:
    """The training batch of ``items[idx]`` on the host: ``cfg``'s span width and negative counts. With
    ``epoch`` (the trainer) each sentence's negatives come from its own generator (``sample_rng``: the
    same in any batch or data-parallel process); without, all are drawn from ``rng`` (the benchmarks)."""
    rngs = [sample_rng(cfg.seed, epoch, int(i)) for i in idx] if epoch is not None else rng
    return collate_train([items[i] for i in idx], pad_id, cfg.max_span_width, len(cfg.relation_types),
                         cfg.neg_entities, cfg.neg_relations, rngs)


def make_optimizer(model: IserModel) -> torch.optim.AdamW:
    """AdamW with the encoder at ``lr`` and everything else at ``head_lr``, fused: one kernel for all
    parameters instead of several per parameter (CUDA: fewer launches; CPU, torch >= 2.4: clipping and
    the step over MiniLM ISER's 135 tensors took 65 ms in torch's default loop and 23 ms fused here,
    ``python -m benchmarks.optimizer_step``)."""
    cfg = model.cfg
    enc_params = list(model.encoder.transformer.parameters())
    enc_ids = {id(p) for p in enc_params}
    rest = [p for p in model.parameters() if id(p) not in enc_ids]
    return torch.optim.AdamW([{"params": enc_params, "lr": cfg.lr}, {"params": rest, "lr": cfg.head_lr or cfg.lr}],
                             weight_decay=cfg.weight_decay, fused=True)


def loss_function(model: IserModel, backend: str = "inductor") -> Callable:
    """``model.loss``, or with ``cfg.compile`` its ``torch.compile``d form: dynamic shapes from the start
    (sentence, span and pair counts vary every batch), graph breaks around the RNNs, which run eagerly
    (cuDNN's own kernels). Compiling happens at the first call; a new shape reuses the graph."""
    if not model.cfg.compile:
        return model.loss
    return torch.compile(model.loss, dynamic=True, backend=backend)


def train_step(model: IserModel, batch: dict[str, torch.Tensor], optim: torch.optim.Optimizer, sched, device,
               loss_fn: Callable | None = None) -> float | None:
    """One optimiser step on a collated batch already on ``device``: forward under autocast, backward,
    gradient clipping, AdamW, schedule. Returns the loss, or None when the loss or the gradient was not
    finite: that step is skipped (one bad batch must not turn every weight into NaN) and the caller
    counts it. The loss and the check are read back together: the step's one device sync on CUDA.
    ``loss_fn``: :func:`loss_function`'s result (default ``model.loss``)."""
    cfg = model.cfg
    with autocast(device, cfg.train_bf16):
        loss, _ = (loss_fn or model.loss)(batch)
    optim.zero_grad(set_to_none=True)
    loss.backward()
    # the optimiser's own list: model.parameters() walks every submodule, 170 µs per step for MiniLM ISER's
    # 135 tensors on the 2-core CPU against 2 µs, and a batch-2 GPU step is bound by the host
    params = [p for group in optim.param_groups for p in group["params"]]
    norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip, foreach=True)
    loss = loss.detach().float()
    value, finite = torch.stack([loss, (torch.isfinite(loss) & torch.isfinite(norm)).float()]).tolist()
    ok = finite == 1.0
    if ok:
        optim.step()
    else:
        optim.zero_grad(set_to_none=True)
    if sched is not None:
        sched.step()
    return value if ok else None


def plot_curves(rows: list[dict], path: Path, best_epoch: int | None = None) -> None:
    """``training_curves.png``: training loss and dev F1 per epoch, the kept epoch marked."""
    import matplotlib.pyplot as plt

    fig = curves_figure(rows, best_epoch)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def curves_figure(rows: list[dict], best_epoch: int | None = None):
    """The figure of :func:`plot_curves` from ``metrics.jsonl`` rows (both panels on one epoch axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
    ep = [r["epoch"] for r in rows]
    ax[0].plot(ep, [r["loss"] for r in rows], marker="o")
    ax[0].set(title="training loss", xlabel="epoch", ylabel="mean loss per step")
    for key, name in (("val_ner_f1", "NER micro F1"), ("val_re_f1", "RE micro F1")):
        pts = [(r["epoch"], r[key]) for r in rows if key in r]
        if pts:
            ax[1].plot(*zip(*pts, strict=True), marker="o", label=name)
    ax[1].set(title="validation", xlabel="epoch", ylabel="micro F1 (0-1)", ylim=(0, 1))
    for a in ax:
        a.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        if best_epoch:
            a.axvline(best_epoch, color="grey", linestyle="--", linewidth=1,
                      label=f"kept: epoch {best_epoch}" if a is ax[1] else None)
    ax[1].legend(loc="lower right")
    fig.tight_layout()
    return fig
