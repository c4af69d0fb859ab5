"""Score CH-DDI predictions with the model's evaluator (:mod:`ddikg.iser_model.evaluator`).

The rule baseline is scored by the same code, on the same kind of sets, as ISER (paper §4.2):

* each gold and each predicted record is aligned to character spans by
  :func:`ddikg.iser_model.readers.align_record`, the alignment the model's reader applies to CH-DDI files
  (an explicit ``subject_span``/``object_span`` first, then the prompt before ``@``, then the only
  occurrence of the string, then the occurrence nearest the other argument);
* :func:`ddikg.iser_model.evaluator.gold_sets` turns the aligned document into its entity set
  ``(start, end, type)`` and relation set ``(head entity, tail entity, type)``;
* :func:`ddikg.iser_model.evaluator.evaluate_predictions` gives NER, RE and RE-without-entity-types
  P/R/F1 per type, micro and macro.

A relation is correct when both entities (span and type) and the predicate match a gold relation of the
same statement; duplicates count once (sets). The entities are those the spo mention: CH-DDI stores no
entity without a relation, so the NER figures score the drugs that take part in relations. A spo that
cannot be placed (see :mod:`ddikg.iser_model.readers`) is set aside on either side, as the model's reader does
for gold; the counts are kept in :class:`RecordScores`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ddikg.contracts import ChddiRecord
from ddikg.iser_model.evaluator import Entity, Relation, evaluate_predictions, gold_sets, table
from ddikg.iser_model.readers import align_record
from ddikg.labels import ENTITY_TYPES, RELATION_LABELS


@dataclass
class RecordScores:
    metrics: dict  # evaluate_predictions' output: {"ner", "re", "re_no_nec"} -> micro / macro / per_type
    statements: int
    set_aside_gold: int = 0  # gold spo the alignment could not place (not scored)
    set_aside_pred: int = 0  # predicted spo the alignment could not place (not scored)

    def table(self) -> str:
        """The evaluator's table (percentages): micro and macro rows, then per-type NER and RE lines."""
        return table(self.metrics)


def record_sets(record: ChddiRecord) -> tuple[set[Entity], set[Relation], int]:
    """The evaluator's entity and relation sets of one CH-DDI record, and how many spo were set aside."""
    doc, problems = align_record(record, set(ENTITY_TYPES), set(RELATION_LABELS))
    entities, relations = gold_sets(doc)
    return entities, relations, len(problems)


def score_records(gold: Iterable[ChddiRecord], pred: Iterable[ChddiRecord]) -> RecordScores:
    """Score ``pred`` against ``gold``; the two lists are paired by position and must share each text."""
    gold, pred = list(gold), list(pred)
    if len(gold) != len(pred):
        raise ValueError(f"{len(pred)} predicted statements for {len(gold)} gold statements")
    for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
        if g.text != p.text:
            raise ValueError(f"statement {i + 1}: predicted text {p.text!r} is not the gold text {g.text!r}")
    g_sets = [record_sets(r) for r in gold]
    p_sets = [record_sets(r) for r in pred]
    metrics = evaluate_predictions([s[0] for s in g_sets], [s[1] for s in g_sets],
                                   [s[0] for s in p_sets], [s[1] for s in p_sets])
    return RecordScores(metrics=metrics, statements=len(gold), set_aside_gold=sum(s[2] for s in g_sets),
                        set_aside_pred=sum(s[2] for s in p_sets))
