"""The DDI label set, in one place.

Every stage (annotation guide, rules, model schema, graph relationship types) reads the labels
from here, so adding or renaming a type is a one-line change.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The only entity type of CH-DDI.
DRUG = "药物"
ENTITY_TYPES: tuple[str, ...] = (DRUG,)


@dataclass(frozen=True)
class RelationType:
    zh: str  # the label as written in CH-DDI spo_list "predicate"
    en: str  # the paper's English name
    graph: str  # the Neo4j relationship type (fixed whitelist; never taken from input text)


RELATION_TYPES: tuple[RelationType, ...] = (
    RelationType("拮抗", "antagonism", "ANTAGONISM"),
    RelationType("抑制", "inhibition", "INHIBITION"),
    RelationType("协同", "synergy", "SYNERGY"),
    RelationType("禁忌", "taboo", "CONTRAINDICATION"),
    RelationType("无关", "irrelevance", "NO_INTERACTION"),
    RelationType("促进", "promotion", "PROMOTION"),
    RelationType("相加", "addition", "ADDITION"),
)

RELATION_LABELS: tuple[str, ...] = tuple(r.zh for r in RELATION_TYPES)
BY_ZH: dict[str, RelationType] = {r.zh: r for r in RELATION_TYPES}
BY_EN: dict[str, RelationType] = {r.en: r for r in RELATION_TYPES}
BY_GRAPH: dict[str, RelationType] = {r.graph: r for r in RELATION_TYPES}

#: The five chronic diseases the paper's corpus starts from (zh -> en).
CHRONIC_DISEASES: dict[str, str] = {
    "冠心病": "coronary heart disease",
    "慢阻肺": "COPD",
    "糖尿病": "diabetes",
    "高血压": "hypertension",
    "骨质疏松": "osteoporosis",
}

#: The section of a drug instruction that holds interactions.
INTERACTION_SECTION = "药物相互作用"


def relation(label: str) -> RelationType:
    """Look a relation up by its Chinese, English or graph name; KeyError names the valid labels."""
    for table in (BY_ZH, BY_EN, BY_GRAPH):
        if label in table:
            return table[label]
    raise KeyError(f"unknown DDI relation type {label!r}; expected one of {', '.join(RELATION_LABELS)}")
