"""What capping the entities paired per sentence (``max_entities``) costs in F1 and saves in time: one
trained checkpoint evaluated on one file with each cap, decoding otherwise as the paper and SpERT.

    python -m benchmarks.decoding_cap --model DIR --data ../shared/data/conll04/conll04_dev.json --caps none,32,8

Writes ``benchmarks/results/decoding_cap/<model id>.json``: per cap, the NER / RE micro figures and the
seconds (best of ``--repeat`` passes: a shared CPU only adds time).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchmarks.common import RESULTS, machine, write_json


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="decoding_cap", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--caps", default="none,32,8", help="comma list of max_entities values; none = uncapped")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=RESULTS / "decoding_cap")
    args = ap.parse_args(argv)

    import torch

    from ddikg.iser_model.checkpoint import load_checkpoint
    from ddikg.iser_model.readers import read_dataset
    from ddikg.iser_model.trainer import evaluate_documents

    torch.set_num_threads(args.threads)
    info = machine("cpu")
    model, tok = load_checkpoint(args.model, "cpu")
    ds = read_dataset(args.data, schema=(model.cfg.entity_types, model.cfg.relation_types))
    rows = []
    for cap in args.caps.split(","):
        max_entities = None if cap == "none" else int(cap)
        best, m = None, None
        for _ in range(max(1, args.repeat)):
            t0 = time.perf_counter()
            m = evaluate_documents(model, tok, ds.documents, torch.device("cpu"), args.batch_size, max_entities)
            best = min(best or 1e9, time.perf_counter() - t0)
        rows.append({"max_entities": max_entities, "seconds": round(best, 1), "ner": m["ner"]["micro"],
                     "re": m["re"]["micro"]})
        print(f"max_entities={cap}: NER F1 {m['ner']['micro']['f1']:.4f}  RE F1 {m['re']['micro']['f1']:.4f}  "
              f"{best:.1f} s", flush=True)
    out = {"model": str(args.model), "label": model.cfg.display_name(), "model_id": model.cfg.model_id,
           "data": str(args.data), "documents": len(ds.documents), "rows": rows, "machine": info,
           "command": "python -m benchmarks.decoding_cap " + " ".join(argv if argv is not None else sys.argv[1:])}
    write_json(args.out / f"{model.cfg.model_id}.json", out)
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
