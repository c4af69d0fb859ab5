"""Evaluation as in the paper §4.2 (and SpERT): exact span + type matches.

* NER: an entity is correct when its span and type match a gold entity.
* RE: a relation is correct when both entities (span and type) and the relation type match.
* RE w/o NEC ("re_no_nec"): as RE but entity types are ignored (spans and relation type only).

Micro figures pool the counts of every type; macro figures average the per-type precision, recall
and F1 over the schema's types that occur in the gold or the predictions.
"""

from __future__ import annotations

from collections.abc import Iterable

Entity = tuple[int, int, str]  # (start, end, type)
Relation = tuple[Entity, Entity, str]  # (head, tail, type)


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"p": p, "r": r, "f1": f}


def score(gold: Iterable[set], pred: Iterable[set], type_of) -> dict:
    """gold/pred: one set of hashable items per document; ``type_of(item)`` gives its type."""
    counts: dict[str, list[int]] = {}  # type -> [tp, fp, fn]
    for g, p in zip(gold, pred, strict=True):
        for item in p:
            counts.setdefault(type_of(item), [0, 0, 0])[0 if item in g else 1] += 1
        for item in g - p:
            counts.setdefault(type_of(item), [0, 0, 0])[2] += 1
    per_type = {t: _prf(*c) | {"support": c[0] + c[2]} for t, c in sorted(counts.items())}
    tp, fp, fn = (sum(c[i] for c in counts.values()) for i in range(3))
    macro = {m: (sum(v[m] for v in per_type.values()) / len(per_type) if per_type else 0.0)
             for m in ("p", "r", "f1")}
    return {"micro": _prf(tp, fp, fn) | {"tp": tp, "fp": fp, "fn": fn}, "macro": macro, "per_type": per_type}


def evaluate_predictions(gold_entities: list[set[Entity]], gold_relations: list[set[Relation]],
                         pred_entities: list[set[Entity]], pred_relations: list[set[Relation]]) -> dict:
    def untyped(rels: set[Relation]) -> set:
        return {(h[:2], t[:2], r) for h, t, r in rels}

    return {
        "ner": score(gold_entities, pred_entities, lambda e: e[2]),
        "re": score(gold_relations, pred_relations, lambda r: r[2]),
        "re_no_nec": score([untyped(g) for g in gold_relations], [untyped(p) for p in pred_relations],
                           lambda r: r[2]),
    }


def gold_sets(doc) -> tuple[set[Entity], set[Relation]]:
    """Gold entity and relation sets of a :class:`SpanDocument`."""
    ents = [(e.start, e.end, e.type) for e in doc.entities]
    return set(ents), {(ents[r.head], ents[r.tail], r.type) for r in doc.relations}


SUMMARY_HEADER = ["", "micro P", "R", "F1", "macro P", "R", "F1"]
PER_TYPE_HEADER = ["type", "P", "R", "F1", "support"]


def summary_rows(metrics: dict) -> list[list[str]]:
    """NER / RE / RE without entity types: micro and macro P, R, F1 in %."""
    return [[name] + [f"{100 * metrics[name][avg][m]:.2f}" for avg in ("micro", "macro") for m in ("p", "r", "f1")]
            for name in ("ner", "re", "re_no_nec")]


def per_type_rows(metrics: dict) -> list[list[str]]:
    """One row per NER and RE type: P, R, F1 in % and the gold support."""
    return [[f"{name}:{t}", *(f"{100 * v[m]:.2f}" for m in ("p", "r", "f1")), str(v["support"])]
            for name in ("ner", "re") for t, v in metrics[name]["per_type"].items()]


def markdown(metrics: dict) -> str:
    """The two tables in Markdown (a model card): no padding to misalign Chinese labels."""
    out = []
    for header, rows in ((SUMMARY_HEADER, summary_rows(metrics)), (PER_TYPE_HEADER, per_type_rows(metrics))):
        out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(r) + " |" for r in rows] + [""]
    return "\n".join(out)


def rich_tables(metrics: dict) -> list:
    """The two tables for a terminal (``rich.table.Table``: aligned in cells, Chinese included)."""
    from ddikg.progress import table as rich_table

    return [rich_table(SUMMARY_HEADER, summary_rows(metrics), right=range(1, 7)),
            rich_table(PER_TYPE_HEADER, per_type_rows(metrics), right=range(1, 5))]


def table(metrics: dict) -> str:
    """The two tables as plain text (percentages), laid out by rich in terminal cells."""
    from io import StringIO

    from rich.console import Console

    buf = StringIO()
    Console(file=buf, width=100, color_system=None).print(*rich_tables(metrics))
    return buf.getvalue().rstrip("\n")
