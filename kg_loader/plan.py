"""From a triples file to the exact graph change a run makes (pure Python, no server).

Reading: every line is parsed with :func:`ddikg.jsonl.parse_line` and then checked for what a graph
key needs (known relation type, non-empty, not overlong, no control characters). Bad lines raise a
located :class:`~ddikg.jsonl.RecordError` or, with ``on_error="skip"``, are written aside with the
reason and counted.

Planning: an edge ``(subject)-[:TYPE]->(object)`` holds evidence entries, each owned by the *source
drug* whose instruction it was read from. Refreshing sources ``S`` replaces exactly the entries
owned by ``S``: the new state of an edge is its entries from other sources plus this run's; no
entries left means the edge goes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ddikg.contracts import Triple
from ddikg.jsonl import OnError, RecordError, parse_line
from ddikg.kg_loader.model import bad_chars, check_name, check_relation
from ddikg.kg_loader.statements import ROW_PROPERTIES


@dataclass(frozen=True)
class Entry:
    """One evidence sentence behind an edge, owned by a source drug."""

    text: str
    source: str
    url: str
    score: float

    @property
    def ident(self) -> tuple[str, str]:
        return (self.source, self.text)


EdgeKey = tuple[str, str, str]  # (subject, TYPE, object)


@dataclass
class RunEdge:
    """What one run says about one edge."""

    label_zh: str
    entries: dict[tuple[str, str], Entry] = field(default_factory=dict)
    model_id: str = ""
    best: float = -1.0
    first_seen: str = ""
    last_seen: str = ""

    def add(self, e: Entry, model_id: str, seen: str) -> None:
        old = self.entries.get(e.ident)
        if old is None or e.score > old.score:
            self.entries[e.ident] = Entry(e.text, e.source, e.url or (old.url if old else ""), e.score)
        if e.score > self.best:
            self.best, self.model_id = e.score, model_id
        self.first_seen = min(self.first_seen, seen) if self.first_seen else seen
        self.last_seen = max(self.last_seen, seen)


@dataclass
class RunTriples:
    """The valid content of a triples file, grouped by edge."""

    edges: dict[EdgeKey, RunEdge] = field(default_factory=dict)
    drugs: dict[str, set[str]] = field(default_factory=dict)  # key -> raw spellings that differ from it
    sources: set[str] = field(default_factory=set)
    read: int = 0
    rejected: int = 0
    errors: list[RecordError] = field(default_factory=list)


class _Rejects:
    """Writes bad lines aside (``file, line, field, error, raw``), opening the file on first use."""

    def __init__(self, path: Path | None, mode: str = "w"):
        self.path, self.fh, self.mode = path, None, mode

    def write(self, err: RecordError, raw: str) -> None:
        if self.path is None:
            return
        if self.fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.fh = self.path.open(self.mode, encoding="utf-8")
        self.fh.write(json.dumps(err.as_dict() | {"raw": raw}, ensure_ascii=False) + "\n")

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()


def source_of(t: Triple) -> str:
    """The drug whose instruction the triple was read from. CH-DDI puts that drug (the ``@`` prompt)
    in the object position, so the object stands in when the extractor did not record it."""
    return t.source_drug if t.source_drug and t.source_drug.strip() else t.object


def check_triple(t: Triple, *, max_name: int, max_evidence: int) -> tuple[str, str, str, str, str]:
    """(subject key, TYPE, object key, source key, label_zh); ValueError(field, why) when not loadable."""
    out = []
    for fld in ("subject", "object"):
        try:
            out.append(check_name(getattr(t, fld), max_length=max_name))
        except ValueError as exc:
            raise ValueError(fld, f"{getattr(t, fld)!r} {exc}") from None
    try:
        rel = check_relation(t.predicate)
    except ValueError as exc:
        raise ValueError("predicate", str(exc)) from None
    try:
        source = check_name(source_of(t), max_length=max_name)
    except ValueError as exc:
        raise ValueError("source_drug", f"{source_of(t)!r} {exc}") from None
    bad = bad_chars(t.evidence, allow_newlines=True)
    if bad:
        raise ValueError("evidence", f"contains the control character {bad}")
    if len(t.evidence) > max_evidence:
        raise ValueError("evidence", f"is {len(t.evidence)} characters long (at most {max_evidence})")
    for fld in ("source_url", "model_id"):
        v = getattr(t, fld) or ""
        bad = bad_chars(v)
        if bad:
            raise ValueError(fld, f"contains the control character {bad}")
    return out[0], rel.graph, out[1], source, rel.zh


def read_triples(
    path: str | os.PathLike,
    *,
    sources: Iterable[str] | None = None,
    on_error: OnError = "raise",
    rejects: str | os.PathLike | None = None,
    max_name: int = 100,
    max_evidence: int = 2000,
) -> RunTriples:
    """Read and group a triples file. With ``sources`` given, a triple from another source is an error
    (a refresh of ``sources`` must not write elsewhere)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    scope = {check_name(s, max_length=max_name) for s in sources} if sources is not None else None
    run = RunTriples()
    out = _Rejects(Path(rejects) if rejects else None)

    def reject(err: RecordError, raw: str) -> None:
        if on_error == "raise":
            raise err
        run.rejected += 1
        run.errors.append(err)
        out.write(err, raw)

    try:
        for line_no, raw in _lines(path):
            try:
                t = parse_line(path, line_no, raw, Triple)
                try:
                    s, typ, o, source, zh = check_triple(t, max_name=max_name, max_evidence=max_evidence)
                except ValueError as exc:
                    raise RecordError(path, line_no, exc.args[0], exc.args[1]) from None
                if scope is not None and source not in scope:
                    raise RecordError(path, line_no, "source_drug",
                                      f"{source!r} is outside the refresh scope ({len(scope)} source drugs)")
            except RecordError as err:
                reject(err, raw.rstrip("\n"))
                continue
            run.read += 1
            run.sources.add(source)
            for key, spelled in ((s, t.subject), (o, t.object)):
                aliases = run.drugs.setdefault(key, set())
                if spelled != key:
                    aliases.add(spelled.strip())
            edge = run.edges.get((s, typ, o))
            if edge is None:
                edge = run.edges[(s, typ, o)] = RunEdge(label_zh=zh)
            entry = Entry(t.evidence, source, t.source_url or "", round(float(t.score), 6))
            edge.add(entry, t.model_id, t.extracted_at.isoformat())
    finally:
        out.close()
    if scope is not None:
        run.sources = scope
    return run


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open(encoding="utf-8") as fh:
            for n, text in enumerate(fh, start=1):
                if text.strip():
                    yield n, text
    except UnicodeDecodeError as exc:
        raise RecordError(path, 0, "<encoding>", f"not UTF-8: {exc.reason}") from None


# --------------------------------------------------------------------------- planning


def entries_of(props: dict[str, Any]) -> list[Entry]:
    """The evidence entries stored on an edge (its parallel evidence_* lists)."""
    texts = props.get("evidence") or []
    srcs = props.get("evidence_sources") or []
    urls = props.get("evidence_urls") or []
    scores = props.get("evidence_scores") or []
    return [Entry(t, s, u, float(sc)) for t, s, u, sc in zip(texts, srcs, urls, scores, strict=False)]


def edge_row(key: EdgeKey, entries: list[Entry], *, model_id: str, first_seen: str,
             last_seen: str, run_id: str) -> dict[str, Any]:
    """The ``$rows`` entry that sets every property of an edge (sorted, so equal states compare equal)."""
    entries = sorted(entries, key=lambda e: (e.source, e.text))
    scores = [e.score for e in entries]
    # Keys as ddikg.kg_loader.statements.EDGE_COLUMNS.
    return {
        "s": key[0], "o": key[2],
        "evidence": [e.text for e in entries], "evidence_sources": [e.source for e in entries],
        "evidence_urls": [e.url for e in entries], "evidence_scores": scores, "score": max(scores),
        "model_id": model_id, "first_seen": first_seen, "last_seen": last_seen, "run_id": run_id,
        # Sources that are neither end of the edge: how a refresh of them finds it (statements.py).
        "offsite_sources": sorted({e.source for e in entries} - {key[0], key[2]}),
    }


@dataclass
class Plan:
    """The rows to write, per relationship type, and the counts a run reports."""

    create: dict[str, list[dict]] = field(default_factory=dict)
    update: dict[str, list[dict]] = field(default_factory=dict)
    delete: dict[str, list[dict]] = field(default_factory=dict)
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0


_COMPARED = ("evidence", "evidence_sources", "evidence_urls", "evidence_scores", "score")


def plan_refresh(run: RunTriples, existing: dict[EdgeKey, dict[str, Any]], run_id: str) -> Plan:
    """The change that makes the graph match ``run`` for ``run.sources``.

    ``existing`` holds the current properties of every edge that has evidence from those sources or
    that the run mentions. *unchanged* edges are confirmed: only ``run_id``/``last_seen`` move (and
    nothing is written when even those are equal, so loading a file twice writes nothing).
    """
    plan = Plan()
    scope = run.sources
    for key in sorted(set(existing) | set(run.edges)):
        typ = key[1]
        old = existing.get(key)
        new = run.edges.get(key)
        kept = [e for e in entries_of(old) if e.source not in scope] if old else []
        entries = kept + (list(new.entries.values()) if new else [])
        if not entries:
            if old is not None:
                plan.delete.setdefault(typ, []).append({"s": key[0], "o": key[2]})
                plan.removed += 1
            continue
        if new is not None:
            first = min(filter(None, [old.get("first_seen") if old else None, new.first_seen]))
            last = max(filter(None, [old.get("last_seen") if old else None, new.last_seen]))
            row = edge_row(key, entries, model_id=new.model_id, first_seen=first,
                           last_seen=last, run_id=run_id)
        else:  # only other sources still support it: keep their provenance as it was
            row = edge_row(key, entries, model_id=old.get("model_id") or "",
                           first_seen=old.get("first_seen") or "", last_seen=old.get("last_seen") or "",
                           run_id=old.get("run_id") or "")
        if old is None:
            plan.create.setdefault(typ, []).append(row)
            plan.added += 1
            continue
        same = all(_norm(old.get(p)) == _norm(row[p]) for p in _COMPARED)
        if same:
            plan.unchanged += 1
        else:
            plan.updated += 1
        if not same or any(_norm(old.get(p)) != _norm(row[p]) for p in ROW_PROPERTIES):
            plan.update.setdefault(typ, []).append(row)
    return plan


def _norm(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 6)
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    return v
