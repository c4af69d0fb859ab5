"""ISER speed: training throughput, inference curve, CPU inference and how the cost grows.

Prints a summary and writes one JSON file (default ``benchmarks/results/iser_speed-<device>.json``)
that ``benchmarks/make_results.py`` turns into the "Speed against the anchor" section of ``docs/results.md``.

    python -m benchmarks.iser_speed --device cuda            # the GPU figures of issue #4
    python -m benchmarks.iser_speed --device cpu --threads 2 # what this 2-core machine manages
    python -m benchmarks.iser_speed --quick --device cpu     # tiny configuration (CI)

Sections (``--sections``): ``train`` (CoNLL04 train, batch 2 and 32, 100 negative entities and
relations), ``infer`` (all spans up to width 10 on CoNLL04 dev; bf16 autocast on CUDA; batch sizes
1/8/32/128), ``cpu`` (CPU inference with MiniLM and with a small scratch encoder), ``growth`` (time per
sentence by sentence length and by max span width k in {5, 10, 15}), ``variants`` (the same inference
with each ablation of Table 6 switched, to show which module the time goes to).

Fresh models have untrained heads: they call most spans entities, so the relation stage runs at its
cap (:data:`ENTITY_CAP` = 32 entities paired per sentence, ``max_entities``: about 1,000 candidate pairs)
- worst-case figures for that stage; uncapped, as evaluation decodes, every ordered pair of hundreds of
spans would be scored. Every
inference row records the entities and relations it produced; ``--model DIR`` times a trained checkpoint
instead. Inference figures are the best of ``--repeat`` passes (a shared CPU only ever adds time);
CPU training figures are extrapolated from the timed steps and say so.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

from benchmarks.common import CONLL04, MINILM, RESULTS, device_label, machine, need, write_json

#: The figure to beat (issue #4): SpERT's public code, H100, MiniLM, CoNLL04 train, batch 2, 100 negatives.
ANCHOR = {"system": "SpERT public code", "device": "NVIDIA H100", "encoder": "MiniLM-L6", "batch_size": 2,
          "seconds_per_epoch": 85.0, "sentences_per_second": 11.0}
#: Targets of issue #4 (H100).
TARGETS = {"train_b2_seconds_per_epoch": 15.0, "train_b2_sentences_per_second": 60.0,
           "train_b32_sentences_per_second": 300.0, "infer_sentences_per_second": 1000.0}
#: SEA as implemented in iser_model/sea.py (n subwords, S = O(n·k) spans, d width, h heads).
SEA_COMPLEXITY = (
    "Q/K/V of H are projected once per sentence; each span's masked attention is read from prefix sums over "
    "key positions (memory O(B·n²·d) for the (B, h, n, n+1, d/h) prefix tensor, time O(B·n²·d)); no "
    "(spans × tokens × tokens × d) tensor exists. Each span then needs its own masked sequence (S, n, d) for the "
    "residual and the BiGRU, processed in chunks of span_chunk spans×positions: time O(S·n·d²) = O(n²·k·d²) per "
    "sentence, which dominates and grows linearly with k and quadratically with sentence length.")
LENGTH_BUCKETS = ((1, 15), (16, 25), (26, 35), (36, 50), (51, 10_000))
WIDTHS = (5, 10, 15)


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mib(device) -> float | None:
    """Peak allocated GPU memory since the last reset; None on CPU (see ``process_peak_rss_mib``)."""
    import torch

    if device.type == "cuda":
        return round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return None


def _compiled_graphs() -> int:
    """How many graphs torch.compile has built in this process so far."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def _rss_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


# ---------------------------------------------------------------------------------------------- configs


def model_config(encoder: str, **overrides):
    """Paper hyper-parameters for CoNLL04 (§4.2) on ``encoder``: "minilm", "scratch" or "tiny"."""
    from ddikg.iser_model.config import IserConfig, ScratchEncoder
    from ddikg.iser_model.presets import tiny_config

    if encoder == "tiny":
        return tiny_config(**overrides)
    base = dict(model_id=f"bench-{encoder}", encoder=str(MINILM), max_span_width=10, width_embedding=25,
                sea_heads=4, dropout=0.1, neg_entities=100, neg_relations=100, lr=2e-5, batch_size=2, bf16=True)
    if encoder == "scratch":  # the demo's encoder size, over the MiniLM WordPiece vocabulary (same subwords)
        base["scratch"] = ScratchEncoder(tokenizer=str(MINILM), hidden_size=128, num_layers=2, num_heads=4,
                                         intermediate_size=256)
    elif encoder != "minilm":
        raise ValueError(f"unknown encoder {encoder!r}")
    return IserConfig(**(base | overrides))


def build(cfg, docs, entity_types, relation_types, device, seed: int = 42):
    """A fresh model (pretrained or scratch encoder, untrained heads) and its tokenizer."""
    from ddikg.iser_model.encoder import Encoder, new_tokenizer, new_transformer
    from ddikg.iser_model.model import IserModel
    from ddikg.iser_model.trainer import seed_everything

    if cfg.scratch is None:
        need(Path(cfg.encoder)) if cfg.encoder.startswith("/") else None
    cfg = cfg.model_copy(update={"entity_types": entity_types, "relation_types": relation_types})
    seed_everything(seed)
    tok = new_tokenizer(cfg, (d.tokens for d in docs))
    model = IserModel(cfg, Encoder(new_transformer(cfg, tok), cfg.dropout)).to(device)
    return model, tok


def prepared(model, tok, docs):
    from ddikg.iser_model.batching import prepare

    cfg = model.cfg
    items, _ = prepare(docs, tok, cfg.max_length, cfg.max_span_width, cfg.entity_types, cfg.relation_types)
    return items


# ---------------------------------------------------------------------------------------------- training


def train_throughput(model, tok, items, batch_size: int, steps: int | None, device, warmup: int = 1,
                     seed: int = 42) -> dict:
    """Time the trainer's step (collate with negative sampling, forward, backward, clip, AdamW) for
    ``steps`` batches of a shuffled length-bucketed epoch (None = the whole epoch); scale to an epoch.
    The ``warmup`` steps before (lazy initialisation, cuDNN autotuning, compiling) are timed apart."""
    import math

    import numpy as np
    from transformers import get_linear_schedule_with_warmup

    from ddikg.iser_model.batching import length_batches, to_device
    from ddikg.iser_model.trainer import loss_function, make_optimizer, sampled_batch, train_step

    cfg = model.cfg
    rng = np.random.default_rng(seed)
    model.train()
    lengths = [len(p.input_ids) for p in items]
    per_epoch = math.ceil(len(items) / batch_size)
    # the optimiser, schedule and per-step work of ddikg.iser_model.trainer.fit, step for step
    optim = make_optimizer(model)
    loss_fn = loss_function(model)
    sched = get_linear_schedule_with_warmup(optim, int(cfg.warmup * per_epoch * cfg.epochs), per_epoch * cfg.epochs)
    losses = []
    graphs_before = _compiled_graphs()

    def step(idx):
        batch = to_device(sampled_batch(cfg, items, idx, tok.pad_token_id, rng), device)
        losses.append(train_step(model, batch, optim, sched, device, loss_fn))

    t0 = time.perf_counter()
    # lazy init, cuDNN autotune, compiling. Compiled graphs serve every length, but a few size-dependent
    # branches (e.g. SEA's span chunks against an indexing threshold) guard on sizes: warm the batches
    # with the shortest and the longest sentences too, so the timed steps build nothing (see
    # graphs_built_while_timed)
    all_batches = length_batches(lengths, batch_size, rng)
    warm = all_batches[:warmup]
    if cfg.compile and warmup:
        longest = [max(lengths[i] for i in b) for b in all_batches]
        warm += [all_batches[longest.index(min(longest))], all_batches[longest.index(max(longest))]]
    for idx in warm:
        step(idx)
    _sync(device)
    warmup_seconds = time.perf_counter() - t0
    batches = length_batches(lengths, batch_size, rng)
    timed = batches if steps is None else batches[:steps]
    _reset_peak(device)
    graphs = _compiled_graphs()
    t0 = time.perf_counter()
    ends = []
    for idx in timed:
        step(idx)  # the step reads its loss back: on CUDA the host has waited for the GPU by now
        ends.append(time.perf_counter())
    _sync(device)
    seconds = time.perf_counter() - t0
    # per-step spread: a host that is slow throughout moves every quantile, one that stalls now and then
    # (another tenant) moves the top ones; the seed fixes the batches, so runs compare step for step
    step_ms = np.diff(np.array([t0, *ends])) * 1e3
    sentences = sum(len(b) for b in timed)
    per_sentence = seconds / max(1, sentences)
    return {"batch_size": batch_size, "steps_timed": len(timed), "steps_per_epoch": per_epoch,
            "sentences_timed": sentences, "seconds_timed": round(seconds, 3),
            "seconds_per_step": round(seconds / max(1, len(timed)), 4),
            "seconds_per_epoch": round(per_sentence * len(items), 2),
            "sentences_per_second": round(1 / per_sentence, 2) if per_sentence else None,
            "extrapolated": len(timed) < per_epoch, "warmup_steps": len(warm),
            "step_ms": {f"p{q}": round(float(np.percentile(step_ms, q)), 2) for q in (10, 50, 90, 99)},
            "warmup_seconds": round(warmup_seconds, 2), "peak_memory_mib": _peak_mib(device),
            "process_peak_rss_mib": _rss_mib(), "graphs_built_while_timed": _compiled_graphs() - graphs} | (
                # over warm-up and timed steps: more than the first step's = recompiles
                {"compiled_graphs": _compiled_graphs() - graphs_before} if cfg.compile else {})


# ---------------------------------------------------------------------------------------------- inference


#: entities paired per sentence in the speed sections (predict's max_entities): the cap the decoding had
#: before it paired every predicted entity, so that the worst case of untrained heads stays comparable
ENTITY_CAP = 32


def time_inference(model, tok, items, batch_size: int, device, warmup: bool = True, repeat: int = 1) -> dict:
    """All spans up to width k -> entities -> pairs -> relations, over ``items`` (results consumed).

    The figure is the best of ``repeat`` passes: on a shared CPU the other processes only ever add time.
    """
    from ddikg.iser_model.inference import predict

    if warmup:
        for _ in predict(model, items[:batch_size], tok.pad_token_id, batch_size=batch_size, device=device,
                         max_entities=ENTITY_CAP):
            pass
    _reset_peak(device)
    passes = []
    for _ in range(max(1, repeat)):
        _sync(device)
        t0 = time.perf_counter()
        n_ent = n_rel = 0
        for _, p in predict(model, items, tok.pad_token_id, batch_size=batch_size, device=device,
                            max_entities=ENTITY_CAP):
            n_ent += len(p.entities)
            n_rel += len(p.relations)
        _sync(device)
        passes.append(time.perf_counter() - t0)
    seconds = min(passes)
    spans = sum(min(p.n_words, model.cfg.max_span_width) * (2 * p.n_words - min(p.n_words, model.cfg.max_span_width)
                                                             + 1) // 2 for p in items)
    return {"batch_size": batch_size, "sentences": len(items), "seconds": round(seconds, 4),
            "sentences_per_second": round(len(items) / seconds, 2) if seconds else None,
            "ms_per_sentence": round(1000 * seconds / max(1, len(items)), 3),
            "spans_per_sentence": round(spans / max(1, len(items)), 1),
            "entities_per_sentence": round(n_ent / max(1, len(items)), 2),
            "relations_per_sentence": round(n_rel / max(1, len(items)), 2),
            "passes_seconds": [round(x, 4) for x in passes],
            "peak_memory_mib": _peak_mib(device), "process_peak_rss_mib": _rss_mib()}


#: Inference paths the ``extract`` section compares: (SEA's fast inference path, predict's keyword arguments).
#: "reference" is SEA as training computes it, for every span: the code path before the inference changes.
EXTRACT_PATHS = {
    "reference": (False, {"span_pruning": "off"}),
    "exact": (True, {"span_pruning": "off"}),
    "bound": (True, {"span_pruning": "bound"}),
    "margin": (True, {"span_pruning": "margin"}),
}


def _encoder_pass(model, batches) -> None:
    """The transformer's forward pass alone over pre-collated batches (what extraction's cost is set against)."""
    import torch

    enc = model.encoder
    with torch.no_grad():
        for batch in batches:
            enc.transformer(input_ids=batch["input_ids"], attention_mask=enc._mask(batch["attention_mask"],
                                                                                 batch["lengths"]))


def _clock():
    return time.perf_counter(), time.process_time()


def extraction_ratio(model, tok, items, docs, batch_size: int, paths: list[str], margins: list[float],
                     repeat: int, device) -> dict:
    """Extraction (``predict``: collate, encoder, fusion, spans, SEA, entities, pairs, relations, records)
    against the transformer's forward pass alone on the same batches, per inference path.

    The passes are interleaved (encoder, then each path, ``repeat`` rounds) and the best of each kept, so a
    busy spell of a shared CPU hits every side alike; the ratio is best extraction / best encoder pass, in
    wall time and in process CPU time. Predictions of the first round are scored against the gold data
    (micro F1) and against the ``exact`` path (or the first path) span for span."""
    from ddikg.iser_model.batching import collate_infer, length_batches
    from ddikg.iser_model.evaluator import evaluate_predictions, gold_sets
    from ddikg.iser_model.inference import predict

    k = model.cfg.max_span_width
    batches = [collate_infer([items[i] for i in idx], tok.pad_token_id, k)
               for idx in length_batches([len(p.input_ids) for p in items], batch_size, None)]
    runs = [(name, margin) for name in paths for margin in (margins if name == "margin" else [None])]
    label = {run: run[0] if run[1] is None else f"margin={run[1]:g}" for run in runs}
    times: dict = {"encoder": []} | {label[r]: [] for r in runs}
    preds: dict = {}
    stats: dict = {}
    _encoder_pass(model, batches[:1])  # warm-up: lazy initialisation, the heap's first growth
    for _ in predict(model, items[:batch_size], tok.pad_token_id, batch_size=batch_size, device=device):
        pass
    for rnd in range(max(1, repeat)):
        w0, c0 = _clock()
        _encoder_pass(model, batches)
        w1, c1 = _clock()
        times["encoder"].append((w1 - w0, c1 - c0))
        for run in runs:
            fast, kwargs = EXTRACT_PATHS[run[0]]
            if model.span_context is not None:
                model.span_context.fast_inference = fast
            st: dict = {}
            out = {}
            w0, c0 = _clock()
            for i, p in predict(model, items, tok.pad_token_id, batch_size=batch_size, device=device,
                                pruning_margin=run[1], stats=st, **kwargs):
                out[i] = p
            w1, c1 = _clock()
            times[label[run]].append((w1 - w0, c1 - c0))
            if rnd == 0:
                preds[label[run]], stats[label[run]] = out, st
    if model.span_context is not None:
        model.span_context.fast_inference = True
    enc_wall, enc_cpu = (min(t[x] for t in times["encoder"]) for x in (0, 1))
    gold = [gold_sets(d) for d in docs]
    base = "exact" if "exact" in preds else next(iter(preds))
    rows = []
    for name, t in times.items():
        if name == "encoder":
            continue
        wall, cpu = (min(x[i] for x in t) for i in (0, 1))
        ents, rels = _pred_sets(preds[name], len(items))
        m = evaluate_predictions([g[0] for g in gold], [g[1] for g in gold], ents, rels)
        rows.append({"path": name, "seconds": round(wall, 3), "cpu_seconds": round(cpu, 3),
                     "sentences_per_second": round(len(items) / wall, 2),
                     "ratio_to_encoder": round(wall / enc_wall, 2), "cpu_ratio_to_encoder": round(cpu / enc_cpu, 2),
                     "passes_seconds": [round(x[0], 3) for x in t],
                     "sea_span_fraction": round(stats[name]["sea_spans"] / max(1, stats[name]["spans"]), 4),
                     "ner_f1": round(100 * m["ner"]["micro"]["f1"], 2), "re_f1": round(100 * m["re"]["micro"]["f1"], 2),
                     "entities": sum(len(e) for e in ents), "relations": sum(len(r) for r in rels)}
                    | _agreement(preds[base], preds[name], len(items), base))
    return {"batch_size": batch_size, "sentences": len(items),
            "encoder_seconds": round(enc_wall, 3), "encoder_cpu_seconds": round(enc_cpu, 3),
            "encoder_passes_seconds": [round(x[0], 3) for x in times["encoder"]], "rows": rows}


def _pred_sets(preds: dict, n: int) -> tuple[list[set], list[set]]:
    ents: list[set] = [set() for _ in range(n)]
    rels: list[set] = [set() for _ in range(n)]
    for i, p in preds.items():
        e = [(a, b, t) for a, b, t, _ in p.entities]
        ents[i] = set(e)
        rels[i] = {(e[h], e[t], r) for h, t, r, _ in p.relations}
    return ents, rels


def _agreement(base: dict, other: dict, n: int, base_name: str) -> dict:
    """How far ``other``'s predictions are from ``base``'s: sentences with other entities or relations,
    entities of ``base`` lost (recall of its entities), the largest score difference where both agree."""
    diff_sent = lost = total = 0
    max_diff = 0.0
    for i in range(n):
        a, b = base[i], other[i]
        ea = {e[:3]: e[3] for e in a.entities}
        eb = {e[:3]: e[3] for e in b.entities}
        ra = {(a.entities[h][:3], a.entities[t][:3], r): p for h, t, r, p in a.relations}
        rb = {(b.entities[h][:3], b.entities[t][:3], r): p for h, t, r, p in b.relations}
        diff_sent += ea.keys() != eb.keys() or ra.keys() != rb.keys()
        total += len(ea)
        lost += len(ea.keys() - eb.keys())
        for x, y in ((ea, eb), (ra, rb)):
            for key in x.keys() & y.keys():
                max_diff = max(max_diff, abs(x[key] - y[key]))
    return {"compared_with": base_name, "sentences_differing": diff_sent,
            "entity_recall_vs_compared": round(1 - lost / max(1, total), 5), "max_score_difference": max_diff}


def growth_by_length(model, tok, docs, device, batch_size: int, per_bucket: int | None, repeat: int = 1
                     ) -> list[dict]:
    rows = []
    for lo, hi in LENGTH_BUCKETS:
        sel = [d for d in docs if lo <= len(d.tokens) <= hi][:per_bucket]
        if not sel:
            continue
        items = prepared(model, tok, sel)
        row = time_inference(model, tok, items, min(batch_size, len(items)), device, repeat=repeat)
        rows.append({"bucket": f"{lo}-{hi}" if hi < 10_000 else f"{lo}+",
                     "mean_words": round(sum(len(d.tokens) for d in sel) / len(sel), 1),
                     "mean_subwords": round(sum(len(p.input_ids) for p in items) / len(items), 1)} | row)
    return rows


def growth_by_width(encoder: str, docs, ent, rel, device, batch_size: int, repeat: int = 1) -> list[dict]:
    rows = []
    for k in WIDTHS:
        cfg = model_config(encoder, max_span_width=k)
        model, tok = build(cfg, docs, ent, rel, device)
        items = prepared(model, tok, docs)
        rows.append({"k": k} | time_inference(model, tok, items, min(batch_size, len(items)), device,
                                              repeat=repeat))
        del model
    return rows


# ---------------------------------------------------------------------------------------------- main


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="iser_speed", description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    ap.add_argument("--quick", action="store_true", help="tiny scratch model, a few sentences, 1 step (CI)")
    ap.add_argument("--out", type=Path, default=None, help="JSON result (default benchmarks/results/...)")
    ap.add_argument("--sections", default=None,
                    help="comma list of train,infer,cpu,growth,variants,extract (default: CUDA train,infer,growth,"
                         "variants; CPU train,cpu,growth)")
    ap.add_argument("--train", type=Path, default=CONLL04 / "conll04_train.json")
    ap.add_argument("--dev", type=Path, default=CONLL04 / "conll04_dev.json")
    ap.add_argument("--encoder", default=None, help="minilm | scratch | tiny (default minilm; tiny with --quick)")
    ap.add_argument("--model", type=Path, default=None, help="time inference of this trained checkpoint")
    ap.add_argument("--train-batch-sizes", default="2,32")
    ap.add_argument("--train-compile", default="off",
                    help="comma list of off,on: train with IserConfig.compile (torch.compile of the loss); the "
                         "compile is timed apart, as warmup_seconds")
    ap.add_argument("--train-precision", default=None,
                    help="comma list of bf16,fp32 (bf16 autocast or float32 with TF32 matmuls; default both on CUDA: "
                         "at batch 2 the step is bound by kernel launches, which autocast's casts add to)")
    ap.add_argument("--train-sentences", type=int, default=None,
                    help="timed sentences per batch size, rounded up to whole steps (default: a whole epoch on "
                         "CUDA, 16 on CPU, 1 step with --quick)")
    ap.add_argument("--infer-batch-sizes", default=None, help="default 1,8,32,128 (CPU: 1,8,32)")
    ap.add_argument("--infer-sentences", type=int, default=None,
                    help="dev sentences to time (default all on CUDA, 32 on CPU, 6 with --quick)")
    ap.add_argument("--per-bucket", type=int, default=None, help="sentences per length bucket (default all; CPU 6)")
    ap.add_argument("--width-sentences", type=int, default=None,
                    help="dev sentences timed at each k (default: the --infer-sentences slice; CPU 16)")
    ap.add_argument("--extract-batch-sizes", default="1,8", help="section extract: batch sizes")
    ap.add_argument("--extract-sentences", type=int, default=None,
                    help="section extract: dev sentences (default all; 6 with --quick)")
    ap.add_argument("--extract-paths", default="reference,exact,bound,margin",
                    help=f"section extract: comma list of {','.join(EXTRACT_PATHS)}")
    ap.add_argument("--margins", default=None,
                    help="section extract: comma list of pruning margins for the margin path (default: the "
                         "checkpoint's pruning_margin)")
    ap.add_argument("--repeat", type=int, default=None, help="inference passes, best kept (default 2; --quick 1)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--system-malloc", action="store_true",
                    help="leave glibc's malloc as it is for inference too (IserConfig.reuse_host_memory='never'): "
                         "the before figure")
    ap.add_argument("--seed", type=int, default=42)
    return ap.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    import torch

    from ddikg.iser_model.hostmem import reuse_freed_memory
    from ddikg.iser_model.inference import configure_host, resolve_device
    from ddikg.iser_model.readers import read_dataset

    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    configure_host(device, args.threads, reuse_memory=False)  # as the trainer does (IserConfig.reuse_host_memory)
    quick = args.quick
    encoder = args.encoder or ("tiny" if quick else "minilm")
    sections = (args.sections or ("train,infer,growth,variants" if cuda else "train,cpu,growth")).split(",")
    bad = set(sections) - {"train", "infer", "cpu", "growth", "variants", "extract"}
    if bad:
        raise SystemExit(f"--sections: unknown {sorted(bad)}")
    out_dir = (args.out.parent if args.out else RESULTS)  # rejects go beside the result, never into ../shared
    train_ds = read_dataset(need(args.train), rejects=out_dir / "iser_speed.train.rejects.jsonl")
    dev_ds = read_dataset(need(args.dev), schema=(train_ds.entity_types, train_ds.relation_types),
                          rejects=out_dir / "iser_speed.dev.rejects.jsonl")
    ent, rel = train_ds.entity_types, train_ds.relation_types
    train_docs, dev_docs = train_ds.documents, dev_ds.documents
    n_dev = args.infer_sentences or (6 if quick else (None if cuda else 32))
    dev_slice = dev_docs[:n_dev]
    budget = args.train_sentences or (1 if quick else (None if cuda else 16))
    if quick:
        train_docs = train_docs[:8]
    infer_bs = [int(b) for b in (args.infer_batch_sizes or ("1,4" if quick else "1,8,32,128" if cuda else "1,8,32"))
                .split(",")]
    per_bucket = args.per_bucket or (2 if quick else (None if cuda else 6))
    n_growth = args.width_sentences or (None if cuda else 16)  # sentences timed at each k
    repeat = args.repeat or (1 if quick else (2 if cuda else 2))

    out: dict = {"benchmark": "iser_speed", "quick": quick, "machine": machine(str(device)), "encoder": encoder,
                 "data": {"train": str(args.train), "dev": str(args.dev), "train_sentences": len(train_docs),
                          "dev_sentences_timed": len(dev_slice),
                          "rejected_lines": train_ds.rejected_lines + dev_ds.rejected_lines},
                 "anchor": ANCHOR, "targets": TARGETS, "sea_complexity": SEA_COMPLEXITY,
                 "precision": "bf16 autocast" if cuda else "fp32", "sections": sections,
                 "inference_passes": repeat,
                 # whether glibc kept freed tensor memory (ddikg.iser_model.hostmem) in training and in inference
                 "host_memory_reused": {"train": False, "inference": False}}
    out["machine"]["uptime"] = _uptime()
    print(f"device: {device_label(out['machine'])}; encoder {encoder}; sections {sections}")

    def fresh(enc: str = encoder, **kw):
        return build(model_config(enc, **kw), train_docs, ent, rel, device, args.seed)

    if "train" in sections:
        rows = []
        # bf16 autocast is CUDA-only (ddikg.iser_model.inference.autocast); on CPU both names would time fp32
        precisions = (args.train_precision or ("bf16,fp32" if cuda else "fp32")).split(",")
        if set(precisions) - {"bf16", "fp32"} or (not cuda and precisions != ["fp32"]):
            raise SystemExit(f"--train-precision: bf16 and/or fp32 on CUDA, fp32 on CPU, not {precisions}")
        compiles = args.train_compile.split(",")
        if set(compiles) - {"off", "on"}:
            raise SystemExit(f"--train-compile: off and/or on, not {compiles}")
        for bs, precision, comp in [(int(b), p, c) for b in args.train_batch_sizes.split(",") for p in precisions
                                    for c in compiles]:
            if quick:
                bs = min(bs, 4)
            model, tok = fresh(batch_size=bs, train_bf16=precision == "bf16", compile=comp == "on")
            items = prepared(model, tok, train_docs)
            steps = None if budget is None else max(1, -(-budget // bs))
            # one warm-up step everywhere: one-time costs (lazy init, cuDNN autotuning, compiling, growing
            # the CPU heap to a batch's peak) stay out of the timed steps; with one timed step at batch 32
            # on the CPU, the heap growth alone had moved the figure by 1.6x between runs
            row = {"precision": precision, "compiled": comp == "on"} | train_throughput(
                model, tok, items, bs, steps, device, warmup=1, seed=args.seed)
            rows.append(row)
            print(f"train batch {bs} {precision}{' compiled' if comp == 'on' else ''}: "
                  f"{row['seconds_per_epoch']} s/epoch, "
                  f"{row['sentences_per_second']} sentences/s"
                  f"{' (extrapolated from ' + str(row['steps_timed']) + ' steps)' if row['extrapolated'] else ''}"
                  f", peak GPU MiB {row['peak_memory_mib']}   [anchor: {ANCHOR['seconds_per_epoch']} s/epoch, "
                  f"{ANCHOR['sentences_per_second']} sentences/s at batch 2 on an H100]")
            del model
        out["training"] = rows
    if not (cuda or args.system_malloc) and set(sections) - {"train"}:
        # the inference entry points keep freed memory on the CPU, the trainer does not (the defaults of
        # IserConfig.reuse_host_memory); the setting is process-wide, so it comes after training
        out["host_memory_reused"]["inference"] = reuse_freed_memory()
    if "infer" in sections:
        if args.model:
            from ddikg.iser_model.checkpoint import load_checkpoint

            model, tok = load_checkpoint(args.model, device)
        else:
            model, tok = fresh()
        items = prepared(model, tok, dev_slice)
        curve = [time_inference(model, tok, items, bs, device, repeat=repeat) for bs in infer_bs]
        for r in curve:
            print(f"infer batch {r['batch_size']}: {r['sentences_per_second']} sentences/s, peak GPU MiB "
                  f"{r['peak_memory_mib']}")
        out["inference"] = {"device": str(device), "max_span_width": model.cfg.max_span_width,
                            "trained_model": str(args.model) if args.model else None, "curve": curve}
        del model
    if "cpu" in sections:
        cpu = torch.device("cpu")
        rows = []
        for enc in (["tiny"] if quick else ["minilm", "scratch"]):
            model, tok = build(model_config(enc), train_docs, ent, rel, cpu, args.seed)
            items = prepared(model, tok, dev_slice)
            for bs in infer_bs:
                r = {"encoder": enc, "parameters": sum(p.numel() for p in model.parameters())} | \
                    time_inference(model, tok, items, bs, cpu, repeat=repeat)
                rows.append(r)
                print(f"CPU {enc} batch {bs}: {r['sentences_per_second']} sentences/s")
            del model
        out["cpu_inference"] = {"threads": torch.get_num_threads(), "rows": rows}
    if "extract" in sections:  # extraction against the encoder's forward pass, per inference path
        if args.model:
            from ddikg.iser_model.checkpoint import load_checkpoint

            model, tok = load_checkpoint(args.model, device)
        else:
            model, tok = fresh()
        paths = args.extract_paths.split(",")
        if set(paths) - set(EXTRACT_PATHS):
            raise SystemExit(f"--extract-paths: unknown {sorted(set(paths) - set(EXTRACT_PATHS))}")
        margins = [float(x) for x in args.margins.split(",")] if args.margins else [model.cfg.pruning_margin]
        docs = dev_docs[:args.extract_sentences or (6 if quick else None)]
        items = prepared(model, tok, docs)
        rows = []
        for bs in [int(b) for b in args.extract_batch_sizes.split(",")]:
            r = extraction_ratio(model, tok, items, docs, bs, paths, margins, repeat, device)
            rows.append(r)
            for x in r["rows"]:
                print(f"extract batch {bs} {x['path']:<12}: {x['sentences_per_second']} sentences/s, "
                      f"{x['ratio_to_encoder']}x the encoder (CPU time {x['cpu_ratio_to_encoder']}x), "
                      f"SEA for {100 * x['sea_span_fraction']:.1f} % of spans, NER F1 {x['ner_f1']} RE F1 "
                      f"{x['re_f1']}, {x['sentences_differing']} sentences differ from {x['compared_with']}")
        out["extract"] = {"device": str(device), "trained_model": str(args.model) if args.model else None,
                          "threads": torch.get_num_threads(), "pruning_margins": margins, "curve": rows}
        del model
    if "variants" in sections:  # where the time goes: the same inference with each ablation switched
        from benchmarks.paper import VARIANTS

        bs = 4 if quick else (32 if cuda else 8)
        built = {key: fresh(**switches) for key, (_, switches) in VARIANTS.items()}
        items = {key: prepared(m, t, dev_slice[:n_growth]) for key, (m, t) in built.items()}
        # passes round-robin over the variants, best kept: a busy spell of a shared CPU then hits every
        # variant alike instead of inflating whichever happened to run during it
        rounds = [{key: time_inference(m, t, items[key], bs, device, warmup=r == 0)
                   for key, (m, t) in built.items()} for r in range(max(1, repeat))]
        rows = []
        for key, (label, _) in VARIANTS.items():
            runs = [rnd[key] for rnd in rounds]
            best = min(runs, key=lambda x: x["seconds"])
            rows.append({"variant": key, "label": label} | best
                        | {"passes_seconds": [x["seconds"] for x in runs]})
            print(f"variant {label:<20}: {best['ms_per_sentence']} ms/sentence")
        del built
        out["variants"] = {"device": str(device), "batch_size": bs, "rows": rows, "interleaved": True}
    if "growth" in sections:
        bs = 4 if quick else (32 if cuda else 8)
        model, tok = fresh()
        by_len = growth_by_length(model, tok, dev_docs, device, bs, per_bucket, repeat)
        del model
        by_k = growth_by_width(encoder, dev_slice[:n_growth], ent, rel, device, bs, repeat)
        for r in by_len:
            print(f"length {r['bucket']:>6} words: {r['ms_per_sentence']} ms/sentence ({r['sentences']} sentences)")
        for r in by_k:
            print(f"k={r['k']:>2}: {r['ms_per_sentence']} ms/sentence, {r['spans_per_sentence']} spans/sentence")
        out["growth"] = {"device": str(device), "batch_size": bs, "by_length": by_len, "by_width": by_k}
    return out


def _uptime() -> str | None:
    """``uptime`` as it printed (how many processes shared the CPU: the load averages)."""
    import subprocess

    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _finish(payload: dict) -> dict:
    """The load at the end too: with the start's it brackets how busy a shared CPU was during the run."""
    import os

    payload["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    payload["machine"]["uptime_end"] = _uptime()
    return payload


def default_out(payload: dict) -> Path:
    dev = payload["machine"]["device"].split(":")[0]
    return RESULTS / f"iser_speed-{'quick-' if payload['quick'] else ''}{dev}.json"


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    payload = _finish(run(args))
    path = write_json(args.out or default_out(payload), payload)
    print(f"wrote {path}")
    return payload


if __name__ == "__main__":
    main(sys.argv[1:])
