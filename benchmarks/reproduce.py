"""The paper-reproduction harness: one command trains and evaluates a whole table, resumably.

    python -m benchmarks.reproduce --table conll04 --seeds 3            # Table 6 + ISER_GRU, MiniLM, paper split
    python -m benchmarks.reproduce --table cmeie --seeds 3              # ISER vs -fusion vs SEA->CLS on CMeIE
    python -m benchmarks.reproduce --table conll04 --seeds 1 --epochs 2 --train-limit 200 --dev-limit 100
                                                                        # a short sanity run (its own protocol)

Every (table, protocol, variant, seed) run writes one JSON file under
``benchmarks/results/reproduce/<table>/<protocol>/<variant>/seed<N>.json``; a run whose file exists is
skipped, so an interrupted table resumes where it stopped. ``protocol`` is ``paper`` for the paper's
settings on the full split and a name spelling out every deviation otherwise (``sanity-e2-t200-d100``,
``quick``), so a shortened run can never be mistaken for the paper table. After the runs the table is
aggregated (mean ± std over seeds of NER/RE micro and macro figures) into ``summary.json`` beside them.

Selection and report: the epoch is selected on a validation set carved from the training file (a fixed,
seeded slice: ``--val-fraction``, default 0.1, ``IserConfig.val_seed`` 0, the same for every variant and
seed); the table's test file (CoNLL04: the paper split's 231 sentences) is evaluated only after training,
at the selected and at the last epoch, and never selects anything.

Settings (paper §4.2): CoNLL04 - MiniLM-L6 (the paper: bert-base-cased), batch 2, 70 epochs, peak lr
2e-5, dropout 0.1, 100 negative entities and relations per sentence, relation threshold 0.4, max span
width 10. The optimiser is SpERT's (AdamW, weight decay 0.01, 10 % linear warm-up then linear decay,
gradient clipping 1.0); the paper says only "Adam with a learning rate decay schedule". CMeIE - a scratch
BERT (4 layers, hidden 256) over the bert-base-chinese tokenizer, character level; 50 negatives as the
paper's Chinese set; lr 3e-4 and dropout 0.1 because the encoder starts from random weights.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import (
    CMEIE,
    CONLL04,
    MINILM,
    RESULTS,
    ZH_TOKENIZER,
    machine,
    need,
    read_json,
    write_json,
)
from benchmarks.paper import TABLE_VARIANTS, VARIANTS, label, table_order

#: the figures aggregated per variant: (name, path into the evaluation JSON)
METRICS = {
    "ner_micro_f1": ("ner", "micro", "f1"), "ner_micro_p": ("ner", "micro", "p"), "ner_micro_r": ("ner", "micro", "r"),
    "ner_macro_f1": ("ner", "macro", "f1"),
    "re_micro_f1": ("re", "micro", "f1"), "re_micro_p": ("re", "micro", "p"), "re_micro_r": ("re", "micro", "r"),
    "re_macro_f1": ("re", "macro", "f1"),
    "re_no_nec_micro_f1": ("re_no_nec", "micro", "f1"),
}


def table_data(table: str) -> tuple[Path, Path]:
    if table == "conll04":
        return CONLL04 / "conll04_train.json", CONLL04 / "conll04_dev.json"
    return CMEIE / "cmeie_train.jsonl", CMEIE / "cmeie_dev.jsonl"


def table_config(table: str, quick: bool = False):
    """The base configuration of a table (variants override its switches)."""
    from ddikg.iser_model.config import IserConfig, ScratchEncoder
    from ddikg.iser_model.presets import tiny_config

    if quick:  # CI: a tiny scratch model over a character vocabulary, one step
        return tiny_config(model_id=f"repro-{table}-quick", batch_size=16, eval_batch_size=16, epochs=1)
    if table == "conll04":
        return IserConfig(model_id="repro-conll04", encoder=str(MINILM), max_span_width=10, width_embedding=25,
                          sea_heads=4, dropout=0.1, relation_threshold=0.4, neg_entities=100, neg_relations=100,
                          lr=2e-5, warmup=0.1, weight_decay=0.01, epochs=70, batch_size=2, eval_batch_size=8,
                          eval_every=1, bf16=True)
    if table == "cmeie":
        return IserConfig(model_id="repro-cmeie", encoder=str(ZH_TOKENIZER),
                          scratch=ScratchEncoder(tokenizer=str(ZH_TOKENIZER), hidden_size=256, num_layers=4,
                                                 num_heads=4, intermediate_size=1024, max_position=512),
                          max_span_width=10, width_embedding=25, sea_heads=4, dropout=0.1, relation_threshold=0.4,
                          neg_entities=50, neg_relations=50, lr=3e-4, warmup=0.1, weight_decay=0.01, epochs=70,
                          batch_size=2, eval_batch_size=8, eval_every=1, bf16=True)
    raise SystemExit(f"--table must be one of {', '.join(TABLE_VARIANTS)}, not {table!r}")


def protocol_name(args: argparse.Namespace) -> str:
    if args.quick:
        return "quick"
    parts = [f"e{args.epochs}" if args.epochs else "", f"lr{args.lr:g}" if args.lr else "",
             f"hlr{args.head_lr:g}" if args.head_lr else "", f"b{args.batch_size}" if args.batch_size else "",
             f"t{args.train_limit}" if args.train_limit else "", f"v{args.val_fraction:g}" if args.val_fraction else "",
             f"d{args.dev_limit}" if args.dev_limit else ""]
    return "paper" if not any(parts) else "sanity-" + "-".join(p for p in parts if p)


def _slice(src: Path, limit: int | None, dest: Path) -> Path:
    """The first ``limit`` documents of ``src`` in ``dest`` with its types/schema file (None: ``src``)."""
    if not limit:
        return src
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / src.name
    if src.suffix == ".json":
        out.write_text(json.dumps(json.loads(src.read_text(encoding="utf-8"))[:limit], ensure_ascii=False),
                       encoding="utf-8")
    else:
        lines = [t for t in src.read_text(encoding="utf-8").splitlines() if t.strip()][:limit]
        out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for side in list(src.parent.glob("*_types.json")) + list(src.parent.glob("*_schema.jsonl")):
        shutil.copy(side, dest / side.name)
    return out


def _pick(metrics: dict, path: tuple[str, ...]) -> float | None:
    cur = metrics
    for key in path:
        if not isinstance(cur, dict) or key not in cur:
            return None
        cur = cur[key]
    return float(cur)


def run_one(table: str, variant: str, seed: int, train: Path, dev: Path, cfg, device: str, progress: bool,
            keep_models: Path | None, rejects_to: Path | None = None) -> dict:
    """Train one variant with one seed and return its result record.

    Lines and spo the readers set aside (e.g. CMeIE strings that cannot be aligned to a span) are
    copied to ``rejects_to``-prefixed files before the temporary model directory goes, and counted.
    """
    from ddikg.iser_model import api

    switches = VARIANTS[variant][1]
    cfg = cfg.model_copy(update=switches | {"seed": seed, "device": device,
                                            "model_id": f"{cfg.model_id}-{variant}-s{seed}"})
    work = Path(tempfile.mkdtemp(prefix=f"repro-{variant}-"))
    model_dir = (keep_models / table / variant / f"seed{seed}") if keep_models else work / "model"
    t0 = time.perf_counter()
    try:
        # validation: a slice of the training file (cfg.val_fraction, cfg.val_seed); ``dev`` is only reported
        res = api.train(train, None, model_dir, config=cfg, test_path=dev, progress=progress, on_error="skip")
        rows = [json.loads(t) for t in (model_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
                if t.strip()]
        rejects = {}
        for part in ("train", "test"):
            src = model_dir / f"{part}.rejects.jsonl"
            n = sum(1 for t in src.read_text(encoding="utf-8").splitlines() if t.strip()) if src.exists() else 0
            rejects[part] = {"rows": n, "file": None}
            if n and rejects_to is not None:
                dest = rejects_to.with_name(f"{rejects_to.name}.{part}.rejects.jsonl")
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(src, dest)
                rejects[part]["file"] = str(dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    wall = time.perf_counter() - t0
    return {
        "table": table, "variant": variant, "label": label(cfg), "seed": seed, "switches": switches,
        "selection": f"validation: {res.validation}; the test file is reported only",
        "decoding": "every ordered pair of predicted entities (SpERT), threshold relation_threshold",
        "best_epoch": res.best_epoch, "last_epoch": res.last_epoch, "epochs_run": res.epochs,
        "metrics": {k: _pick(res.test_selected or {}, p) for k, p in METRICS.items()},  # test, selected epoch
        "last_epoch_metrics": {k: _pick(res.test_last or {}, p) for k, p in METRICS.items()},  # test, last epoch
        "validation_metrics": {k: _pick(res.best_validation, p) for k, p in METRICS.items()},
        "evaluation": res.test_selected, "evaluation_last": res.test_last, "epochs": rows,
        "seconds_per_epoch": statistics.fmean(res.seconds_per_epoch) if res.seconds_per_epoch else None,
        "wall_seconds": round(wall, 1), "train_documents": res.train_documents,
        "validation_documents": res.validation_documents, "rejected_spo": res.rejected_spo,
        "rejects": rejects,
        "config": json.loads(cfg.to_json()), "model_dir": str(model_dir) if keep_models else None,
    }


def aggregate(records: list[dict], variants: list[str]) -> list[dict]:
    """One row per variant (in table order): mean and sample std over seeds of every metric."""
    rows = []

    def stat(vals: list[float]) -> dict:
        return {"mean": statistics.fmean(vals) if vals else None,
                "std": statistics.stdev(vals) if len(vals) > 1 else (0.0 if vals else None), "n": len(vals)}

    for v in variants:
        recs = [r for r in records if r["variant"] == v]
        # the label of what ran (a record's config), so a row run with a deviation carries its name
        row: dict = {"variant": v, "label": label(recs[0]["config"]) if recs and "config" in recs[0] else VARIANTS[v][0],
                     "seeds": sorted(r["seed"] for r in recs), "selected_epochs": [r.get("best_epoch") for r in recs]}
        for key in METRICS:
            row[key] = stat([r["metrics"][key] for r in recs if r["metrics"].get(key) is not None])
            # the last epoch's figures on the same (reported) set, beside the selected epoch's
            row[f"last_{key}"] = stat([r["last_epoch_metrics"][key] for r in recs
                                       if (r.get("last_epoch_metrics") or {}).get(key) is not None])
        spe = [r["seconds_per_epoch"] for r in recs if r.get("seconds_per_epoch")]
        row["seconds_per_epoch"] = statistics.fmean(spe) if spe else None
        rows.append(row)
    return rows


def load_records(directory: Path) -> list[dict]:
    return [read_json(p) for p in sorted(directory.glob("*/seed*.json"))]


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="reproduce", description=__doc__.split("\n\n")[0])
    ap.add_argument("--table", required=True, choices=sorted(TABLE_VARIANTS))
    ap.add_argument("--variants", default=None, help="comma list (default: the whole table)")
    ap.add_argument("--seeds", type=int, default=3, help="seeds 1..N (default 3)")
    ap.add_argument("--seed-list", default=None, help="explicit comma list of seeds (overrides --seeds)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--epochs", type=int, default=None, help="override the paper's 70 (a sanity protocol)")
    ap.add_argument("--lr", type=float, default=None, help="override the encoder's peak learning rate")
    ap.add_argument("--head-lr", type=float, default=None,
                    help="a separate peak learning rate for everything above the encoder (a short-protocol aid)")
    ap.add_argument("--batch-size", type=int, default=None,
                    help="override the paper's batch of 2 (fewer, larger steps: more epochs in a short GPU session)")
    ap.add_argument("--max-seconds", type=float, default=None,
                    help="stop each run's training after this wall time (evaluated at the epoch that crosses it)")
    ap.add_argument("--train-limit", type=int, default=None, help="first N training sentences only")
    ap.add_argument("--val-fraction", type=float, default=None,
                    help="the validation slice carved from the training documents (default 0.1; seed val_seed=0)")
    ap.add_argument("--dev-limit", type=int, default=None, help="first N sentences of the reported set only")
    ap.add_argument("--train", type=Path, default=None, help="training file (default: ../shared data of the table)")
    ap.add_argument("--dev", type=Path, default=None,
                    help="the reported set (default: the table's test file, CoNLL04: conll04_dev.json, 231 sentences)")
    ap.add_argument("--quick", action="store_true", help="tiny scratch model, 1 epoch (CI shape check)")
    ap.add_argument("--results", type=Path, default=RESULTS / "reproduce")
    ap.add_argument("--keep-models", type=Path, default=None, help="keep the checkpoints under this directory")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--eval-batch-size", type=int, default=None,
                    help="sentences per evaluation batch (speed only: the figures do not depend on it)")
    ap.add_argument("--progress", action="store_true", help="progress bars")
    ap.add_argument("--force", action="store_true", help="rerun runs whose result exists")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    variants = args.variants.split(",") if args.variants else TABLE_VARIANTS[args.table]
    unknown = [v for v in variants if v not in table_order(args.table)]
    if unknown:
        raise SystemExit(f"--variants: not in table {args.table}: {unknown}; known: {', '.join(table_order(args.table))}")
    seeds = [int(s) for s in args.seed_list.split(",")] if args.seed_list else list(range(1, args.seeds + 1))
    protocol = protocol_name(args)
    out_dir = args.results / args.table / protocol
    train_src, dev_src = (args.train or table_data(args.table)[0]), (args.dev or table_data(args.table)[1])
    cfg = table_config(args.table, args.quick)
    if args.epochs:
        cfg = cfg.model_copy(update={"epochs": args.epochs})
    if args.lr:
        cfg = cfg.model_copy(update={"lr": args.lr})
    if args.head_lr:
        cfg = cfg.model_copy(update={"head_lr": args.head_lr})
    if args.batch_size:
        cfg = cfg.model_copy(update={"batch_size": args.batch_size})
    if args.max_seconds:
        cfg = cfg.model_copy(update={"max_seconds": args.max_seconds})
    if args.val_fraction:
        cfg = cfg.model_copy(update={"val_fraction": args.val_fraction})
    if args.eval_batch_size:
        cfg = cfg.model_copy(update={"eval_batch_size": args.eval_batch_size})
    if args.threads:  # through the config: api.train sets the threads (on CUDA it would reset a bare setting to 1)
        cfg = cfg.model_copy(update={"threads": args.threads})
    from ddikg.iser_model.inference import resolve_device

    device = str(resolve_device(args.device))
    ran = skipped = 0
    with tempfile.TemporaryDirectory(prefix="repro-data-") as tmp:
        train = _slice(need(train_src), args.train_limit, Path(tmp) / "train")
        dev = _slice(need(dev_src), args.dev_limit, Path(tmp) / "dev")
        for variant in variants:
            for seed in seeds:
                path = out_dir / variant / f"seed{seed}.json"
                # a record from before held-out selection (no "selection") selected on the reported set: rerun
                if path.exists() and not args.force and "selection" in read_json(path):
                    skipped += 1
                    continue
                info = machine(device)
                print(f"[{args.table}/{protocol}] {variant} seed {seed} on {device} ...", flush=True)
                rec = run_one(args.table, variant, seed, train, dev, cfg, device, args.progress, args.keep_models,
                              rejects_to=path.with_suffix(""))
                rec |= {"protocol": protocol, "machine": info, "data": {
                    "train": str(train_src), "dev": str(dev_src), "train_limit": args.train_limit,
                    "dev_limit": args.dev_limit, "val_fraction": cfg.val_fraction, "val_seed": cfg.val_seed}}
                write_json(path, rec)
                ran += 1
                m = rec["metrics"]
                last = rec["last_epoch_metrics"]
                print(f"  test at selected epoch {rec['best_epoch']}: NER micro F1 {m['ner_micro_f1']:.4f}  RE micro F1 "
                      f"{m['re_micro_f1']:.4f}; at last epoch {rec['last_epoch']}: NER {last['ner_micro_f1']:.4f}  RE "
                      f"{last['re_micro_f1']:.4f} ({rec['wall_seconds']} s)", flush=True)
    # every run of this protocol so far, not only this invocation's: gpu_session.sh runs one process per
    # variant, and each would otherwise leave a summary of its own variant alone
    records = load_records(out_dir)
    present = [v for v in table_order(args.table) if any(r["variant"] == v for r in records)]
    rows = aggregate(records, present)
    summary = {"table": args.table, "protocol": protocol, "variants": present,
               "seeds": sorted({r["seed"] for r in records}), "ran": ran, "skipped": skipped, "rows": rows}
    write_json(out_dir / "summary.json", summary)
    print(f"{args.table} ({protocol}): ran {ran}, skipped {skipped} (already present)")
    for r in rows:
        f = [r[k]["mean"] for k in ("ner_micro_f1", "re_micro_f1")]
        print(f"  {r['label']:<22} n={len(r['seeds'])}  NER F1 "
              f"{'-' if f[0] is None else f'{100 * f[0]:.2f}'}  RE F1 {'-' if f[1] is None else f'{100 * f[1]:.2f}'}")
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
