"""Typed records for every file that crosses a stage boundary.

Four contracts, each one JSON object per line (JSONL, UTF-8):

1. :class:`RawDrugRecord`  crawler  -> annotate      (``raw/*.jsonl``)
2. :class:`ChddiRecord`    annotate -> iser_model    (CH-DDI ``spo_list`` format; predictions add scores)
3. :class:`SpanDocument`   iser_model training/eval  (SpERT-compatible token/span format)
4. :class:`Triple`         iser_model -> kg_loader   (one DDI edge with provenance)

See ``docs/contracts.md`` for examples. Read and write them only through :mod:`ddikg.jsonl`,
which turns validation failures into ``file:line: field: message`` errors.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ddikg.labels import DRUG

ChangeStatus = Literal["new", "changed", "unchanged"]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


_SPACE = re.compile(r"\s+")


def normalise_name(name: str) -> str:
    """The node key of a drug or disease: NFKC (full-width -> half-width), trimmed, inner spaces collapsed.

    Case is kept: Chinese names have none and Latin drug names are usually written one way per source.
    """
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", name)).strip()


class _Record(BaseModel):
    """Base: unknown keys are errors (typos must not pass silently), aliases used on output."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=False)

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True, exclude_none=True), ensure_ascii=False)


def _nonblank(v: str) -> str:
    if not v or not v.strip():
        raise ValueError("must be a non-empty string")
    return v


# --------------------------------------------------------------------------- 1. raw drug record


def content_hash(name: str, sections: dict[str, str]) -> str:
    """sha256 over the drug name and its sections in title order: stable across crawls and key order."""
    canonical = json.dumps([name, sorted(sections.items())], ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class RawDrugRecord(_Record):
    """One drug instruction page as crawled (crawler output)."""

    drug_id: str
    name: str
    url: str
    categories: list[str] = Field(default_factory=list)  # category names the drug was listed under
    diseases: list[str] = Field(default_factory=list)  # related (chronic) diseases it was reached from
    sections: dict[str, str]  # section title (no trailing colon) -> normalised text; keeps page order
    fetched_at: datetime = Field(default_factory=utcnow)
    content_hash: str = ""
    change: ChangeStatus = "new"  # against the previous crawl
    etag: str | None = None
    last_modified: str | None = None
    encoding: str | None = None

    _nonblank = field_validator("drug_id", "name", "url")(_nonblank)

    @model_validator(mode="after")
    def _fill_hash(self) -> RawDrugRecord:
        expected = content_hash(self.name, self.sections)
        if not self.content_hash:
            self.content_hash = expected
        elif self.content_hash != expected:
            raise ValueError(f"content_hash {self.content_hash!r} does not match the sections ({expected})")
        return self

    @property
    def interactions(self) -> str | None:
        from ddikg.labels import INTERACTION_SECTION

        return self.sections.get(INTERACTION_SECTION)


# --------------------------------------------------------------------------- 2. CH-DDI record


class TypedValue(_Record):
    """CH-DDI writes objects and object types as ``{"@value": ...}`` (only that key is accepted)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=False)

    value: str = Field(alias="@value")

    @classmethod
    def of(cls, value: str) -> TypedValue:
        return cls.model_validate({"@value": value})


class Spo(_Record):
    """One subject-predicate-object statement of a CH-DDI record.

    In the paper's example the prompt drug (before ``@``) is the *object* and the interacting drug the
    *subject*. ``subject_span``/``object_span`` are optional character offsets ``[start, end)`` in
    ``text`` that disambiguate repeated strings; ``score`` is set on model predictions only.
    CMeIE-style extra keys (``Combined``, ``*_idx``) are kept as they are.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    predicate: str
    subject: str
    subject_type: str = DRUG
    object: TypedValue
    object_type: TypedValue = Field(default_factory=lambda: TypedValue.of(DRUG))
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    subject_span: tuple[int, int] | None = None
    object_span: tuple[int, int] | None = None

    _nonblank = field_validator("predicate", "subject", "subject_type")(_nonblank)

    @field_validator("subject_span", "object_span")
    @classmethod
    def _span_order(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and not (0 <= v[0] < v[1]):
            raise ValueError("span must be [start, end) with 0 <= start < end")
        return v

    @property
    def object_text(self) -> str:
        return self.object.value

    @property
    def object_type_text(self) -> str:
        return self.object_type.value


class ChddiMeta(_Record):
    """Where a statement came from. Extra keys are allowed for annotation tools."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    source_drug: str | None = None
    drug_id: str | None = None
    source_url: str | None = None
    index: int | None = Field(default=None, ge=0)  # statement index within the drug's interaction section
    boilerplate: bool = False  # a statement with no interaction content (e.g. 尚不明确); not for the model
    model_id: str | None = None


class ChddiRecord(_Record):
    """A CH-DDI statement: ``text = 药名@statement`` plus its ``spo_list`` (annotate output, model I/O)."""

    text: str
    spo_list: list[Spo] = Field(default_factory=list)
    meta: ChddiMeta | None = None

    _nonblank = field_validator("text")(_nonblank)

    @model_validator(mode="after")
    def _spans_inside_text(self) -> ChddiRecord:
        n = len(self.text)
        for i, spo in enumerate(self.spo_list):
            for name, value in (("subject_span", spo.subject), ("object_span", spo.object.value)):
                span = getattr(spo, name)
                if span is None:
                    continue
                if span[1] > n:
                    raise ValueError(f"spo_list[{i}].{name} {list(span)} ends beyond the text ({n} chars)")
                if self.text[span[0]:span[1]] != value:
                    raise ValueError(f"spo_list[{i}].{name} {list(span)} covers "
                                     f"{self.text[span[0]:span[1]]!r}, not {value!r}")
        return self

    @property
    def prompt(self) -> str | None:
        """The entity prompt before ``@`` (the source drug), or None when the text has no ``@``."""
        head, sep, _ = self.text.partition("@")
        return head if sep else None


# --------------------------------------------------------------------------- 3. span document


class SpanEntity(_Record):
    type: str
    start: int = Field(ge=0)
    end: int  # exclusive

    @model_validator(mode="after")
    def _order(self) -> SpanEntity:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be greater than start ({self.start})")
        return self


class SpanRelation(_Record):
    type: str
    head: int = Field(ge=0)  # index into entities
    tail: int = Field(ge=0)


class SpanDocument(_Record):
    """SpERT-compatible training/evaluation document: token list, entity spans, relations."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)  # SpERT files carry orig_id etc.

    tokens: list[str] = Field(min_length=1)
    entities: list[SpanEntity] = Field(default_factory=list)
    relations: list[SpanRelation] = Field(default_factory=list)
    orig_id: str | int | None = None

    @model_validator(mode="after")
    def _indices(self) -> SpanDocument:
        n, m = len(self.tokens), len(self.entities)
        for i, e in enumerate(self.entities):
            if e.end > n:
                raise ValueError(f"entities[{i}].end {e.end} is beyond the {n} tokens")
        for i, r in enumerate(self.relations):
            for name in ("head", "tail"):
                if getattr(r, name) >= m:
                    raise ValueError(f"relations[{i}].{name} {getattr(r, name)} is not an entity index (< {m})")
            if r.head == r.tail:
                raise ValueError(f"relations[{i}] links entity {r.head} to itself")
        return self


# --------------------------------------------------------------------------- 4. triple


class Triple(_Record):
    """One extracted DDI edge with its provenance (extraction output, loader input)."""

    subject: str
    subject_type: str = DRUG
    predicate: str
    object: str
    object_type: str = DRUG
    score: float = Field(ge=0.0, le=1.0)
    evidence: str  # the CH-DDI statement text the edge was read from
    source_url: str | None = None
    source_drug: str | None = None
    drug_id: str | None = None
    sentence_index: int | None = None
    model_id: str
    extracted_at: datetime = Field(default_factory=utcnow)
    run_id: str | None = None

    _nonblank = field_validator("subject", "predicate", "object", "evidence", "model_id")(_nonblank)


def dump(record: BaseModel) -> dict[str, Any]:
    """The JSON-ready dict of a record, with aliases (``@value``) and without unset optionals."""
    return record.model_dump(mode="json", by_alias=True, exclude_none=True)


CONTRACTS: dict[str, type[_Record]] = {
    "raw": RawDrugRecord,
    "chddi": ChddiRecord,
    "span": SpanDocument,
    "triple": Triple,
}
