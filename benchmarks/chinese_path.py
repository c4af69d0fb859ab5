"""Honest figures for the Chinese path: the rule baseline and the demo model on the CH-DDI test split, and
the same demo-style model on CMeIE.

    python -m benchmarks.chinese_path                     # all three parts
    python -m benchmarks.chinese_path --part baseline     # or demo, cmeie (repeatable)

Parts, each printed as a table (NER, RE micro/macro, P/R/F1 and support per relation type) and recorded
as JSON under ``benchmarks/results/chinese_path/``:

* ``baseline`` — the annotate stage's lexicon + cue-rule pre-annotator (``ddikg annotate baseline``)
  scored against the gold CH-DDI test split (``annotate/data/chddi/test.jsonl``).
* ``demo`` — the demo model (``ddikg.iser_model.presets.demo_config``: scratch encoder over a character
  vocabulary, CPU, its fixed wall-clock budget, `max_seconds`) trained on the CH-DDI train split, its epoch chosen
  on the dev split, scored on the test split. How many epochs the budget buys depends on the machine's
  load (recorded), so ``demo-epochs`` trains the same preset for its full 30 epochs without the budget.
* ``cmeie`` — the same demo-style model with the real bert-base-chinese tokenizer
  (``../shared/models/bert-base-chinese-tokenizer``, random weights) trained on CMeIE train
  (``../shared/data/cmeie``) less a 300-sentence validation slice carved from it (epoch selection),
  CPU, a fixed budget (``--cmeie-seconds``, default 360 s), scored on CMeIE dev. Skipped, with the reason
  printed and recorded, when ../shared is absent (set DDIKG_SHARED).

Every figure comes from ``ddikg.iser_model.evaluator`` (strict: both spans and the type must match).
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import CMEIE, REPO, RESULTS, ZH_TOKENIZER, machine, read_json, write_json

OUT = RESULTS / "chinese_path"
PARTS = ("baseline", "demo", "demo-epochs", "cmeie")
CMEIE_VALIDATION = 300  # sentences carved from CMeIE train for epoch selection
COMMAND = "python -m benchmarks.chinese_path --part {part}"


def table(metrics: dict) -> str:
    """NER and RE micro/macro, then RE P/R/F1 and support per type, in %."""
    lines = [f"{'':<12}{'micro P':>9}{'R':>8}{'F1':>8}{'macro P':>10}{'R':>8}{'F1':>8}"]
    for name in ("ner", "re"):
        mi, ma = metrics[name]["micro"], metrics[name]["macro"]
        lines.append(f"{name:<12}{100 * mi['p']:>9.2f}{100 * mi['r']:>8.2f}{100 * mi['f1']:>8.2f}"
                     f"{100 * ma['p']:>10.2f}{100 * ma['r']:>8.2f}{100 * ma['f1']:>8.2f}")
    lines.append(f"{'RE type':<12}{'P':>9}{'R':>8}{'F1':>8}{'support':>10}")
    for t, v in metrics["re"]["per_type"].items():
        lines.append(f"{t:<12}{100 * v['p']:>9.2f}{100 * v['r']:>8.2f}{100 * v['f1']:>8.2f}{v['support']:>10}")
    return "\n".join(lines)


def markdown(out_dir: Path = OUT) -> str:
    """The recorded parts as Markdown tables (per-type RE P/R/F1/support, micro, macro, NER), each with its
    command, JSON path, training facts and the machine's load."""
    blocks = []
    for part in PARTS:
        path = out_dir / f"{part}.json"
        if not path.exists():
            continue
        r = read_json(path)
        rel = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        head = f"`{r['command']}` → `{rel}`"
        if "skipped" in r:
            blocks.append(f"{head}: skipped ({r['skipped']})")
            continue
        m = r["metrics"]
        rows = ["| RE type | P | R | F1 | support |", "|---|---:|---:|---:|---:|"]
        rows += [f"| {t} | {100 * v['p']:.2f} | {100 * v['r']:.2f} | {100 * v['f1']:.2f} | {v['support']} |"
                 for t, v in m["re"]["per_type"].items()]
        for name, key in (("RE micro", ("re", "micro")), ("RE macro", ("re", "macro")), ("NER micro", ("ner", "micro"))):
            v = m[key[0]][key[1]]
            rows.append(f"| **{name}** | {100 * v['p']:.2f} | {100 * v['r']:.2f} | {100 * v['f1']:.2f} | |")
        facts = [f"machine load {r['machine']['load_average'][0]} on {r['machine']['cpu_count']} cores, "
                 f"{r['machine']['time_utc']}, commit {r['machine']['commit']}"]
        if "train" in r:
            t = r["train"]
            facts.insert(0, f"trained {t['seconds']} s wall / {t.get('cpu_seconds', '?')} CPU s, "
                            f"{t['epochs_run']} epochs, best epoch {t['best_epoch']} on validation")
        blocks.append(head + "\n\n" + "\n".join(rows) + "\n\n" + "; ".join(facts) + ".")
    return "\n\n".join(blocks)


def _record(part: str, payload: dict, out_dir: Path) -> Path:
    payload = {"part": part, "command": COMMAND.format(part=part), "machine": machine("cpu")} | payload
    return write_json(out_dir / f"{part}.json", payload)


def run_baseline(out_dir: Path) -> dict:
    from importlib.resources import as_file

    from ddikg.annotate.chddi import CHDDI_TEST
    from ddikg.annotate.lexicon import Lexicon
    from ddikg.annotate.rules import prelabel
    from ddikg.annotate.scoring import score_records
    from ddikg.contracts import ChddiRecord
    from ddikg.jsonl import read_jsonl

    t0 = time.perf_counter()
    with as_file(CHDDI_TEST) as path:
        gold = read_jsonl(path, ChddiRecord)
    lexicon = Lexicon.load()
    pred = [prelabel(g.model_copy(update={"spo_list": []}), lexicon) for g in gold]
    scores = score_records(gold, pred)
    return {"data": {"gold": "annotate/data/chddi/test.jsonl", "statements": len(gold)},
            "seconds": round(time.perf_counter() - t0, 1), "metrics": scores.metrics}


def _train_and_score(cfg, train: Path, dev: Path, test: Path, work: Path) -> dict:
    """Train with ``dev`` as the validation set and score ``test`` (reported only) at the epoch chosen on
    dev (``metrics``) and at the last epoch (``last_epoch_metrics``); the training time includes both."""
    from ddikg.iser_model import api

    t0, c0 = time.perf_counter(), time.process_time()
    result = api.train(train, dev, work / "model", config=cfg, test_path=test, progress=False)
    train_s, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"config": cfg.model_dump(mode="json"), "model": cfg.display_name(),
            "train": {"seconds": round(train_s, 1), "cpu_seconds": round(train_cpu, 1), "epochs_run": result.epochs,
                      "best_epoch": result.best_epoch, "last_epoch": result.last_epoch,
                      "seconds_per_epoch": [round(s, 1) for s in result.seconds_per_epoch],
                      "train_documents": result.train_documents,
                      "best_validation": {k: result.best_validation[k]["micro"] for k in ("ner", "re")
                                          if k in result.best_validation}},
            "metrics": result.test_selected, "last_epoch_metrics": result.test_last}


def run_demo(out_dir: Path, budget: bool = True) -> dict:
    from importlib.resources import as_file

    from ddikg.annotate.chddi import CHDDI_DEV, CHDDI_TEST, CHDDI_TRAIN
    from ddikg.iser_model.presets import demo_config

    cfg = demo_config().model_copy(update={"device": "cpu"} | ({} if budget else {"max_seconds": None}))
    with as_file(CHDDI_TRAIN) as train, as_file(CHDDI_DEV) as dev, as_file(CHDDI_TEST) as test, \
            tempfile.TemporaryDirectory() as work:
        out = _train_and_score(cfg, train, dev, test, Path(work))
    return {"data": {"train": "annotate/data/chddi/train.jsonl", "validation": "annotate/data/chddi/dev.jsonl",
                     "test": "annotate/data/chddi/test.jsonl"}} | out


def carve_validation(train: Path, dest: Path, n: int = CMEIE_VALIDATION, seed: int = 0) -> tuple[Path, Path]:
    """``train`` split into (train less ``n`` random sentences, those ``n``), the schema file beside both."""
    lines = [x for x in train.read_text(encoding="utf-8").splitlines() if x.strip()]
    picked = set(random.Random(seed).sample(range(len(lines)), n))
    paths = []
    for name, keep in (("train", lambda i: i not in picked), ("validation", lambda i: i in picked)):
        d = dest / name
        d.mkdir(parents=True, exist_ok=True)
        p = d / train.name
        p.write_text("\n".join(x for i, x in enumerate(lines) if keep(i)) + "\n", encoding="utf-8")
        for side in train.parent.glob("*_schema.jsonl"):
            shutil.copy(side, d / side.name)
        paths.append(p)
    return paths[0], paths[1]


def run_cmeie(out_dir: Path, seconds: float) -> dict:
    from ddikg.iser_model.config import ScratchEncoder
    from ddikg.iser_model.presets import demo_config

    train, dev = CMEIE / "cmeie_train.jsonl", CMEIE / "cmeie_dev.jsonl"
    missing = [str(p) for p in (train, dev, ZH_TOKENIZER) if not p.exists()]
    if missing:
        return {"skipped": f"needs {', '.join(missing)} (../shared is not beside this checkout; set DDIKG_SHARED)"}
    demo = demo_config()
    scratch = demo.scratch.model_copy(update={"tokenizer": str(ZH_TOKENIZER)}) if demo.scratch else ScratchEncoder(
        tokenizer=str(ZH_TOKENIZER))
    cfg = demo.model_copy(update={"model_id": "cmeie-demo-style", "scratch": scratch, "device": "cpu",
                                  "max_seconds": seconds, "eval_every": 1})
    with tempfile.TemporaryDirectory() as work:
        tr, val = carve_validation(train, Path(work) / "data")
        out = _train_and_score(cfg, tr, val, dev, Path(work))
    return {"data": {"train": f"{train} less {CMEIE_VALIDATION} sentences (seed 0)",
                     "validation": f"{CMEIE_VALIDATION} sentences carved from {train.name}", "test": str(dev)}} | out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", action="append", choices=PARTS, help="what to run (repeatable; default all)")
    ap.add_argument("--cmeie-seconds", type=float, default=360.0, help="CMeIE training budget (s)")
    ap.add_argument("--out", type=Path, default=OUT, help="where the JSON results go")
    ap.add_argument("--markdown", action="store_true", help="print the recorded results as Markdown tables, run nothing")
    args = ap.parse_args(argv)
    if args.markdown:
        print(markdown(args.out))
        return 0
    for part in args.part or PARTS:
        print(f"== {part}", flush=True)
        if part == "baseline":
            payload = run_baseline(args.out)
        elif part in ("demo", "demo-epochs"):
            payload = run_demo(args.out, budget=part == "demo")
        else:
            payload = run_cmeie(args.out, args.cmeie_seconds)
        if "skipped" in payload:
            print(f"skipped: {payload['skipped']}")
        else:
            print(table(payload["metrics"]))
            if "train" in payload:
                t = payload["train"]
                print(f"trained {t['seconds']} s ({t['cpu_seconds']} CPU s), {t['epochs_run']} epochs, "
                      f"best epoch {t['best_epoch']} on validation")
        print(f"-> {_record(part, payload, args.out)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
