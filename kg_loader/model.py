"""The graph model in code: node keys, relationship types, and what may be loaded.

See ``docs/graph-model.md``. Relationship types come only from :data:`ddikg.labels.RELATION_TYPES`;
no label, type or property name is ever taken from input text.
"""

from __future__ import annotations

import functools
import re

from ddikg.contracts import normalise_name  # the node key, shared with extraction
from ddikg.labels import CHRONIC_DISEASES, RELATION_TYPES, RelationType, relation

DRUG_LABEL = "Drug"
DISEASE_LABEL = "Disease"
INDICATED_FOR = "INDICATED_FOR"
DDI_TYPES: tuple[str, ...] = tuple(r.graph for r in RELATION_TYPES)



# Control (Cc), surrogate (Cs) and private-use (Co) characters, and the Unicode line/paragraph
# separators: never part of a drug name; a regex because this runs over every loaded sentence.
_BAD = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ue000-\uf8ff\U000f0000-\U0010ffff]")
_BAD_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ue000-\uf8ff"
                       "\U000f0000-\U0010ffff]")


def bad_chars(text: str, *, allow_newlines: bool = False) -> str | None:
    """The first control/surrogate/private-use character in ``text`` as ``U+XXXX``, or None.

    ``allow_newlines`` lets tab, LF and CR through (evidence sentences may carry them).
    """
    m = (_BAD_TEXT if allow_newlines else _BAD).search(text)
    return f"U+{ord(m.group()):04X}" if m else None


def check_name(raw: str, *, max_length: int) -> str:
    """The normalised key of ``raw``; ValueError says why it cannot be a node key."""
    key = _name_key(raw, max_length)
    if isinstance(key, ValueError):
        raise ValueError(*key.args)
    return key


@functools.lru_cache(maxsize=65536)
def _name_key(raw: str, max_length: int) -> str | ValueError:
    # Cached: a triples file names the same few thousand drugs in every line (3 names a triple).
    try:
        return _check_name(raw, max_length=max_length)
    except ValueError as exc:
        return exc


def _check_name(raw: str, *, max_length: int) -> str:
    bad = bad_chars(raw)
    if bad:
        raise ValueError(f"contains the control character {bad}")
    name = normalise_name(raw)
    if not name:
        raise ValueError("is empty after normalisation")
    if len(name) > max_length:
        raise ValueError(f"is {len(name)} characters long (at most {max_length})")
    return name


def check_relation(predicate: str) -> RelationType:
    """The whitelisted relationship type of a predicate (Chinese, English or graph name)."""
    try:
        return relation(predicate.strip())
    except KeyError as exc:
        raise ValueError(exc.args[0]) from None


def disease_kind(name: str) -> str:
    """``chronic`` for the five chronic diseases of the corpus, else ``disease``."""
    return "chronic" if name in CHRONIC_DISEASES else "disease"
