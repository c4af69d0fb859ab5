"""Relation P/R/F1 per type, micro and macro, following the paper's definition (§4.2).

A predicted relation is correct when its subject, its object and its predicate all match a gold relation
of the same statement. Entities are compared by character span when both sides give one (CH-DDI's
``subject_span``/``object_span``), otherwise by string. Micro figures pool the counts of all types; macro
figures average the per-type precision, recall and F1 over the types present in gold or predictions.

This is a small stand-in kept in the annotate stage so the rule baseline does not wait for the model's
evaluator (``iser_model/evaluator.py``); the two must agree and this should be switched to that one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel

from flows.contracts import ChddiRecord, Spo
from flows.labels import RELATION_LABELS


class PRF(BaseModel):
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def support(self) -> int:
        return self.tp + self.fn


class RelationScores(BaseModel):
    per_type: dict[str, PRF]
    micro: PRF
    macro_precision: float
    macro_recall: float
    macro_f1: float
    statements: int
    unmatched_predictions: int = 0  # predicted statements whose text is not in gold (their relations are FPs)

    def table(self) -> str:
        """A plain-text table (percentages), one row per type then micro and macro."""
        rows = [f"{'type':<8}{'P':>8}{'R':>8}{'F1':>8}{'gold':>7}{'pred':>7}"]
        for label, s in self.per_type.items():
            rows.append(f"{label:<8}{100 * s.precision:8.2f}{100 * s.recall:8.2f}{100 * s.f1:8.2f}"
                        f"{s.support:7d}{s.tp + s.fp:7d}")
        m = self.micro
        rows.append(f"{'micro':<8}{100 * m.precision:8.2f}{100 * m.recall:8.2f}{100 * m.f1:8.2f}"
                    f"{m.support:7d}{m.tp + m.fp:7d}")
        rows.append(f"{'macro':<8}{100 * self.macro_precision:8.2f}{100 * self.macro_recall:8.2f}"
                    f"{100 * self.macro_f1:8.2f}")
        return "\n".join(rows)


def _key(spo: Spo, with_spans: bool) -> tuple:
    if with_spans:
        return (spo.subject_span, spo.object_span, spo.predicate)
    return (spo.subject, spo.object_text, spo.predicate)


def _match(gold: list[Spo], pred: list[Spo]) -> tuple[Counter, Counter, Counter]:
    """(tp, fp, fn) per predicate for one statement."""
    with_spans = all(s.subject_span and s.object_span for s in gold + pred)
    g = Counter(_key(s, with_spans) for s in gold)
    p = Counter(_key(s, with_spans) for s in pred)
    tp, fp, fn = Counter(), Counter(), Counter()
    for k in g.keys() | p.keys():
        hit = min(g[k], p[k])
        tp[k[-1]] += hit
        fp[k[-1]] += p[k] - hit
        fn[k[-1]] += g[k] - hit
    return tp, fp, fn


def score_relations(gold: Iterable[ChddiRecord], pred: Iterable[ChddiRecord]) -> RelationScores:
    """Score predictions against gold; statements are paired by text (in order for repeated texts)."""
    by_text: dict[str, list[ChddiRecord]] = {}
    for r in pred:
        by_text.setdefault(r.text, []).append(r)
    tp, fp, fn = Counter(), Counter(), Counter()
    n = 0
    for g in gold:
        n += 1
        queue = by_text.get(g.text)
        p = queue.pop(0) if queue else None
        t, f, m = _match(g.spo_list, p.spo_list if p else [])
        tp += t
        fp += f
        fn += m
    unmatched = 0
    for rest in by_text.values():
        for p in rest:
            unmatched += 1
            fp += Counter(s.predicate for s in p.spo_list)
    labels = [lb for lb in RELATION_LABELS] + sorted((tp.keys() | fp.keys() | fn.keys()) - set(RELATION_LABELS))
    per_type = {lb: PRF(tp=tp[lb], fp=fp[lb], fn=fn[lb]) for lb in labels}
    present = [s for s in per_type.values() if s.tp + s.fp + s.fn]
    micro = PRF(tp=sum(tp.values()), fp=sum(fp.values()), fn=sum(fn.values()))
    k = len(present) or 1
    return RelationScores(
        per_type=per_type, micro=micro,
        macro_precision=sum(s.precision for s in present) / k,
        macro_recall=sum(s.recall for s in present) / k,
        macro_f1=sum(s.f1 for s in present) / k,
        statements=n, unmatched_predictions=unmatched,
    )
