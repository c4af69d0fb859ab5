"""Can a form of the fusion fit a handful of sentences? Full-batch training on the first N CoNLL04
training sentences, the same steps, learning rates and seed for every form, and the training-set
figures afterwards.

    python -m benchmarks.overfit                                  # 4 sentences, 120 steps, every form
    python -m benchmarks.overfit --forms literal,literal_scaled --steps 60
    python -m benchmarks.overfit --encoder tiny --forms literal,literal_scaled,residual --steps 150

``--encoder tiny``: 4 synthetic CH-DDI statements (:data:`TINY_STATEMENTS`) and a tiny scratch encoder,
Adam at 3e-3 on every parameter, 20 negatives: the setup of ``tests/iser_model/test_fidelity.py``'s
literal-form overfit test (:func:`tiny_overfit`).

A form is a set of IserConfig switches (``FORMS``). Each run records its loss every step, the
scale of what the fusion sees at initialisation (X_b, X_e, X_r, the cross attention's entropy, H) and
the NER / RE micro F1 on the training sentences every ``--eval-every`` steps. Results:
``benchmarks/results/overfit/<form>-s<seed>.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from benchmarks.common import CONLL04, MINILM, RESULTS, machine, need, write_json

#: form -> IserConfig switches (the literal form is the paper's Eq. 3-5 with PyTorch's initialisation)
FORMS: dict[str, dict] = {
    "literal": {},
    "literal_scaled": {"init": "scaled"},
    "residual": {"fusion_residual": True},
    "skip": {"fusion_skip": True},
    "spert": {"fusion": False, "entity_context": "cls"},
}


def fusion_scale(model, batch) -> dict:
    """Per-dimension standard deviation (over real tokens) of X_b, X_e, X_r and H, and how uniform the
    cross attention of Eq. 3 is (entropy over log n; 1 = uniform) at the model's current weights."""
    import torch

    from ddikg.iser_model.fusion import cross_attention

    mask = batch["attention_mask"].bool()
    with torch.no_grad():
        x_b, x_e, x_r = model.encoder(batch["input_ids"], batch["attention_mask"])
        out = {"std_x_b": x_b[mask].std(0).mean().item(), "std_x_e": x_e[mask].std(0).mean().item(),
               "std_x_r": x_r[mask].std(0).mean().item()}
        if model.fusion is not None:
            scores = (x_r @ x_e.transpose(1, 2) / x_e.shape[-1] ** 0.5).masked_fill(~mask[:, None], float("-inf"))
            att = scores.softmax(-1)  # (B, n, n)
            n = mask.sum(1, keepdim=True).expand_as(mask).float()  # (B, n) each row's length
            entropy = -(att * att.clamp_min(1e-30).log()).sum(-1)  # (B, n)
            out["attention_entropy_over_log_n"] = (entropy[mask] / n[mask].log()).mean().item()
            out["attention_max_weight"] = att.amax(-1)[mask].mean().item()
            # how much X̃_e varies across the positions of one sentence (0 = the same vector everywhere)
            x_t = cross_attention(x_r, x_e, mask)
            mean = (x_t * mask[..., None]).sum(1, keepdim=True) / mask.sum(1)[:, None, None]
            out["std_x_e_tilde_within_sentence"] = ((x_t - mean)[mask].pow(2).mean()).sqrt().item()
            h = model.fusion(x_b, x_e, x_r, mask)
            out["std_h"] = h[mask].std(0).mean().item()
    return out


#: (prompt drug, other drug, statement with {b} for the other drug, relation type)
TINY_STATEMENTS = [("阿司匹林", "华法林", "与{b}合用，作用加强", "协同"), ("地高辛", "钙剂", "禁止与{b}同时使用", "禁忌"),
                   ("二甲双胍", "西咪替丁", "{b}可抑制本药的代谢", "抑制"), ("利福平", "胰岛素", "{b}能促进本药的吸收", "促进")]


def tiny_overfit(form: str, steps: int = 150, seed: int = 0) -> dict:
    """Full-batch Adam (3e-3) on :data:`TINY_STATEMENTS` with the tiny scratch model and a form's switches
    (on the paper's equations: the presets' deviations switched off); the training-set figures after."""
    import numpy as np
    import torch

    from ddikg.contracts import SpanDocument
    from ddikg.iser_model.batching import collate_train, prepare
    from ddikg.iser_model.encoder import Encoder, new_tokenizer, new_transformer
    from ddikg.iser_model.model import IserModel
    from ddikg.iser_model.presets import tiny_config
    from ddikg.iser_model.trainer import evaluate_documents

    ents, rels = ["药物"], ["拮抗", "抑制", "协同", "禁忌", "无关", "促进", "相加"]
    docs = []
    for a, b, template, rel in TINY_STATEMENTS:
        body = template.format(b=b)
        start = len(a) + 1 + body.index(b)
        docs.append(SpanDocument.model_validate({
            "tokens": list(f"{a}@{body}"), "entities": [{"type": "药物", "start": 0, "end": len(a)},
                                                        {"type": "药物", "start": start, "end": start + len(b)}],
            "relations": [{"type": rel, "head": 1, "tail": 0}]}))
    torch.manual_seed(seed)
    paper = dict(fusion_residual=False, sea_scale="d", sea_out_proj=False, relation_loss="mean")
    cfg = tiny_config(**(paper | FORMS[form]), entity_types=ents, relation_types=rels, seed=seed)
    tok = new_tokenizer(cfg, [d.tokens for d in docs])
    model = IserModel(cfg, Encoder(new_transformer(cfg, tok), cfg.dropout))
    items, _ = prepare(docs, tok, cfg.max_length, cfg.max_span_width, cfg.entity_types, cfg.relation_types)
    optim = torch.optim.Adam(model.parameters(), lr=3e-3)
    rng = np.random.default_rng(seed)
    losses, t0 = [], time.perf_counter()
    model.train()
    for _ in range(steps):
        loss, _ = model.loss(collate_train(items, tok.pad_token_id, cfg.max_span_width, len(rels), 20, 20, rng))
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(round(loss.item(), 5))
    m = evaluate_documents(model, tok, docs, torch.device("cpu"), 4)
    return {"form": form, "label": cfg.display_name(), "encoder": "tiny", "steps": steps, "seed": seed,
            "statements": len(docs), "losses": losses, "ner": m["ner"]["micro"], "re": m["re"]["micro"],
            "reached_training_labels": m["ner"]["micro"]["f1"] == 1.0 and m["re"]["micro"]["f1"] == 1.0,
            "seconds": round(time.perf_counter() - t0, 1), "config": json.loads(cfg.to_json())}


def run(form: str, args) -> dict:
    import numpy as np
    import torch

    from ddikg.iser_model.batching import collate_train, prepare
    from ddikg.iser_model.config import IserConfig
    from ddikg.iser_model.encoder import Encoder, new_tokenizer, new_transformer
    from ddikg.iser_model.model import IserModel
    from ddikg.iser_model.readers import read_dataset
    from ddikg.iser_model.trainer import evaluate_documents, make_optimizer, seed_everything

    torch.set_num_threads(args.threads)
    ds = read_dataset(need(CONLL04 / "conll04_train.json"))
    docs = ds.documents[:args.sentences]
    cfg = IserConfig(encoder=str(need(MINILM)), lr=args.lr, head_lr=args.head_lr, dropout=0.0, seed=args.seed,
                     neg_entities=100, neg_relations=100, entity_types=ds.entity_types,
                     relation_types=ds.relation_types, **FORMS[form])
    seed_everything(cfg.seed)
    tok = new_tokenizer(cfg)
    model = IserModel(cfg, Encoder(new_transformer(cfg, tok), cfg.dropout))
    items, _ = prepare(docs, tok, cfg.max_length, cfg.max_span_width, cfg.entity_types, cfg.relation_types)
    rng = np.random.default_rng(cfg.seed)
    from ddikg.iser_model.batching import collate_infer

    scale0 = fusion_scale(model.eval(), collate_infer(items, tok.pad_token_id, cfg.max_span_width))
    optim = make_optimizer(model)
    losses, evals = [], []
    t0 = time.perf_counter()
    for step in range(1, args.steps + 1):
        model.train()
        batch = collate_train(items, tok.pad_token_id, cfg.max_span_width, len(cfg.relation_types),
                              cfg.neg_entities, cfg.neg_relations, rng)
        loss, parts = model.loss(batch)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optim.step()
        losses.append({"step": step, "loss": loss.item(), "entity": parts["loss_entity"].item(),
                       "relation": parts["loss_relation"].item()})
        if step % args.eval_every == 0 or step == args.steps:
            m = evaluate_documents(model, tok, docs, torch.device("cpu"), 8)
            evals.append({"step": step, "ner_f1": m["ner"]["micro"]["f1"], "re_f1": m["re"]["micro"]["f1"],
                          "ner_tp": m["ner"]["micro"]["tp"], "ner_fp": m["ner"]["micro"]["fp"],
                          "ner_fn": m["ner"]["micro"]["fn"], "re_tp": m["re"]["micro"]["tp"],
                          "re_fn": m["re"]["micro"]["fn"]})
            print(f"  {form} step {step}: loss {loss.item():.4f}  train NER F1 {evals[-1]['ner_f1']:.3f}  "
                  f"RE F1 {evals[-1]['re_f1']:.3f}", flush=True)
    return {"form": form, "label": cfg.display_name(), "switches": FORMS[form], "seed": args.seed,
            "sentences": args.sentences, "gold_entities": sum(len(d.entities) for d in docs),
            "gold_relations": sum(len(d.relations) for d in docs), "steps": args.steps, "lr": args.lr,
            "head_lr": args.head_lr, "scale_at_init": scale0, "scale_at_end": fusion_scale(
                model.eval(), collate_infer(items, tok.pad_token_id, cfg.max_span_width)),
            "losses": losses, "evaluations": evals, "seconds": round(time.perf_counter() - t0, 1),
            "reached_training_labels": bool(evals and math.isclose(evals[-1]["ner_f1"], 1.0)
                                            and math.isclose(evals[-1]["re_f1"], 1.0)),
            "config": json.loads(cfg.to_json())}


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(prog="overfit", description=__doc__.split("\n\n")[0])
    ap.add_argument("--forms", default=",".join(FORMS))
    ap.add_argument("--encoder", choices=("minilm", "tiny"), default="minilm")
    ap.add_argument("--sentences", type=int, default=4)
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--eval-every", type=int, default=30)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--head-lr", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=RESULTS / "overfit")
    args = ap.parse_args(argv)
    out = []
    for form in args.forms.split(","):
        if form not in FORMS:
            raise SystemExit(f"--forms: unknown form {form!r}; known: {', '.join(FORMS)}")
        info = machine("cpu")
        if args.encoder == "tiny":
            import torch

            torch.set_num_threads(args.threads)
            rec = tiny_overfit(form, args.steps, args.seed)
        else:
            rec = run(form, args)
        rec |= {"machine": info, "command": "python -m benchmarks.overfit " + " ".join(argv or [])}
        name = f"{form}-s{args.seed}" if args.encoder == "minilm" else f"tiny-{form}-s{args.seed}"
        write_json(args.out / f"{name}.json", rec)
        print(f"{form}: {rec['label']}: reached the training labels: {rec.get('reached_training_labels')}", flush=True)
        out.append(rec)
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
