"""How fast the demo preset's model learns CH-DDI with and without the fusion skip (H = BiLSTM(...) + X_b).

Not a test: it prints figures. For each variant and seed it trains the demo preset (scratch char
encoder, ``presets.demo_config``) on the CH-DDI train split for a fixed number of epochs, no time cap,
and records the training loss per epoch, how well the model fits its own training split (NER / RE
micro F1 on train) and the dev split's figures, all at the last epoch (nothing is selected)::

    python -m benchmarks.fusion_probe                                # 6 epochs, seeds 42 1 2
    python -m benchmarks.fusion_probe --variants residual,skip --seeds 42 --epochs 6

Variants, on top of ``presets.PRESET_DEVIATIONS`` (residual, SEA √d_head, SEA W_O, summed BCE):
``residual`` (the preset as it was measured on the template corpus), ``skip`` (+ fusion_skip: the
demo preset now). Results: ``benchmarks/results/fusion_probe/<variant>-s<seed>.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import git_commit, write_json  # noqa: E402
from ddikg.annotate.chddi import CHDDI_DEV, CHDDI_TRAIN  # noqa: E402
from ddikg.iser_model import api  # noqa: E402
from ddikg.iser_model.presets import PRESET_DEVIATIONS, demo_config  # noqa: E402

VARIANTS = {"residual": {}, "skip": {"fusion_skip": True}}
OUT = Path(__file__).resolve().parent / "results" / "fusion_probe"


def run(variant: str, seed: int, epochs: int) -> dict:
    over = PRESET_DEVIATIONS | {"fusion_skip": False} | VARIANTS[variant]
    cfg = demo_config().model_copy(update={**over, "seed": seed, "epochs": epochs, "eval_every": epochs,
                                           "max_seconds": None, "device": "cpu"})
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        r = api.train(str(CHDDI_TRAIN), str(CHDDI_TRAIN), Path(tmp) / "m", config=cfg, test_path=str(CHDDI_DEV),
                      progress=False)
        rows = [json.loads(x) for x in (Path(tmp) / "m" / "metrics.jsonl").read_text().splitlines()]

    def f1(m: dict) -> dict:
        return {"ner": round(100 * m["ner"]["micro"]["f1"], 1), "re": round(100 * m["re"]["micro"]["f1"], 1)}

    return {"variant": variant, "label": cfg.display_name(), "seed": seed, "epochs": epochs,
            "loss": [round(x["loss"], 4) for x in rows], "seconds_per_epoch": r.seconds_per_epoch,
            "train_fit": f1(r.last_validation), "dev": f1(r.test_last),
            "wall_seconds": round(time.perf_counter() - t0, 1), "commit": git_commit(),
            "command": f"python -m benchmarks.fusion_probe --variants {variant} --seeds {seed} --epochs {epochs}"}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default="residual,skip")
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    ap.add_argument("--epochs", type=int, default=6)
    args = ap.parse_args(argv)
    for seed in args.seeds:
        for v in args.variants.split(","):
            rec = run(v, seed, args.epochs)
            write_json(OUT / f"{v}-s{seed}.json", rec)
            print(f"{rec['label']:<70} seed {seed:>2}: loss {rec['loss'][-1]:.3f}  train fit NER/RE "
                  f"{rec['train_fit']['ner']}/{rec['train_fit']['re']}  dev {rec['dev']['ner']}/{rec['dev']['re']}",
                  flush=True)


if __name__ == "__main__":
    main()
