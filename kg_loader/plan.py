"""From a triples file to the exact graph change a run makes (pure Python, no server).

Reading: every line is parsed with orjson and checked against the ``Triple`` contract by a lean typed
check (:func:`check_record`; strict: a score must be a JSON number, ``extracted_at`` is required, both
ends must be drugs), then for what a graph key needs (known relation type, non-empty, not overlong, no
control characters, not a self-loop). Bad lines raise a located :class:`~ddikg.jsonl.RecordError` or,
with ``on_error="skip"``, are written aside with the reason and counted.

Planning: an edge ``(subject)-[:TYPE]->(object)`` holds evidence entries, each owned by the *source
drug* whose instruction it was read from. Refreshing sources ``S`` replaces exactly the entries
owned by ``S``: the new state of an edge is its entries from other sources plus this run's; no
entries left means the edge goes.

Digests: the bytes of each source drug's lines are hashed (:attr:`RunTriples.digests`); the loader
stores the digest on the source's node, and a source whose digest the graph already holds is neither
checked again nor read back from the graph.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from ddikg.contracts import Triple
from ddikg.jsonl import OnError, RecordError, UndecodableLine, decode_line, require_file
from ddikg.kg_loader.model import _BAD_TEXT, bad_chars, check_name, check_relation
from ddikg.kg_loader.statements import ROW_PROPERTIES
from ddikg.labels import DRUG

# Bump when what a digest covers changes: every stored digest then mismatches and is recomputed.
DIGEST_VERSION = b"ddikg-source-digest-1"


class Entry(NamedTuple):
    """One evidence sentence behind an edge, owned by a source drug (a tuple: cheap to build 100,000 of)."""

    text: str
    source: str
    url: str
    score: float

    @property
    def ident(self) -> tuple[str, str]:
        return (self.source, self.text)


EdgeKey = tuple[str, str, str]  # (subject, TYPE, object)


@dataclass(slots=True)
class RunEdge:
    """What one run says about one edge."""

    label_zh: str
    entries: dict[tuple[str, str], Entry] = field(default_factory=dict)
    model_id: str = ""
    best: float = -1.0
    first_seen: str = ""
    last_seen: str = ""

    def add(self, e: Entry, model_id: str, seen: str) -> None:
        ident = (e.source, e.text)
        old = self.entries.get(ident)
        if old is None:
            self.entries[ident] = e
        elif e.score > old.score:
            self.entries[ident] = e if e.url or not old.url else e._replace(url=old.url)
        if e.score > self.best:
            self.best, self.model_id = e.score, model_id
        if not self.first_seen or seen < self.first_seen:
            self.first_seen = seen
        if seen > self.last_seen:
            self.last_seen = seen

    @property
    def sources(self) -> set[str]:
        return {src for src, _ in self.entries}


@dataclass
class RunTriples:
    """The valid content of a triples file, grouped by edge."""

    edges: dict[EdgeKey, RunEdge] = field(default_factory=dict)
    drugs: dict[str, set[str]] = field(default_factory=dict)  # key -> raw spellings that differ from it
    sources: set[str] = field(default_factory=set)
    digests: dict[str, str] = field(default_factory=dict)  # source -> digest of its lines (all valid)
    trusted: set[str] = field(default_factory=set)  # sources whose lines were not checked again
    # Lines of trusted sources, not yet grouped into ``edges``: (key, label_zh, the line's bytes,
    # source, line number). Most of them are never needed (their edges are confirmed, not planned),
    # so they are kept as bytes and parsed again only if materialize() groups them.
    deferred: list[tuple[EdgeKey, str, bytes, str, int]] = field(default_factory=list)
    read: int = 0
    rejected: int = 0
    errors: list[RecordError] = field(default_factory=list)

    def add(self, key: EdgeKey, zh: str, t: dict, source: str, seen: str) -> None:
        """Group one valid line into ``edges`` (and its spellings into ``drugs``)."""
        drugs = self.drugs
        s, o, sj, ob = key[0], key[2], t["subject"], t["object"]
        if s not in drugs:
            drugs[s] = set()
        if sj != s:
            drugs[s].add(sj.strip())
        if o not in drugs:
            drugs[o] = set()
        if ob != o:
            drugs[o].add(ob.strip())
        e = Entry(t["evidence"], source, t.get("source_url") or "", round(float(t["score"]), 6))
        edge = self.edges.get(key)
        if edge is None:  # a new edge: built whole (RunEdge.add for the next sentences)
            self.edges[key] = RunEdge(zh, {(source, e.text): e}, t["model_id"], e.score, seen, seen)
        else:
            edge.add(e, t["model_id"], seen)

    def materialize(self, *, sources: set[str] = frozenset(), keys: Iterable[EdgeKey] = ()) -> None:
        """Group the deferred lines of ``sources``, then those on an edge already in ``edges`` or in
        ``keys``: an edge is planned from all of the run's sentences on it."""
        wanted = set(keys)
        if not sources and not wanted and not self.edges:
            return  # nothing a deferred line could join (a reload of an unchanged file)
        rest: list[tuple[EdgeKey, str, bytes, str, int]] = []
        for item in self.deferred:
            if item[3] in sources:
                self._add_deferred(item)
            else:
                rest.append(item)
        self.deferred = []
        for item in rest:
            if item[0] in self.edges or item[0] in wanted:
                self._add_deferred(item)
            else:
                self.deferred.append(item)

    def _add_deferred(self, item: tuple[EdgeKey, str, bytes, str, int]) -> None:
        t = orjson.loads(item[2])
        self.add(item[0], item[1], t, item[3], _timestamp(t["extracted_at"]))

    def deferred_pairs(self) -> set[tuple[EdgeKey, str]]:
        """(edge, source) of the deferred lines."""
        return {(item[0], item[3]) for item in self.deferred}


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


# --------------------------------------------------------------------------- the lean Triple check

_FIELDS = frozenset(Triple.model_fields)  # the contract's keys; anything else is a typo, as in Triple
_REQUIRED = ("subject", "predicate", "object", "score", "evidence", "model_id", "extracted_at")
_NONBLANK = ("subject", "predicate", "object", "evidence", "model_id")
_OPTIONAL_STR = ("source_url", "source_drug", "drug_id", "run_id")
_REQUIRED_SET = frozenset(_REQUIRED)
_BAD_TEXT_SEARCH = _BAD_TEXT.search
_FAST_OPTIONAL = frozenset((*_OPTIONAL_STR, "subject_type", "object_type", "sentence_index"))
_JSON_TYPE = {str: "a string", int: "an integer", float: "a number", bool: "a boolean", list: "an array",
              dict: "an object", type(None): "null"}


def _jtype(v: Any) -> str:
    return _JSON_TYPE.get(type(v), type(v).__name__)


@functools.lru_cache(maxsize=4096)
def _timestamp(text: str) -> str:
    """``extracted_at`` as an ISO 8601 UTC string (so stored first/last_seen sort correctly)."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date-time") from None
    if dt.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone (write Z or +00:00)")
    return dt.astimezone(timezone.utc).isoformat()


@functools.lru_cache(maxsize=256)
def _optional_keys(keys: tuple[str, ...]) -> tuple[str, ...] | None:
    """The optional keys of a key set the fast path takes (None: some key needs the full checks)."""
    extra = tuple(k for k in keys if k not in _REQUIRED_SET)
    return extra if all(k in _FAST_OPTIONAL for k in extra) else None


def _fast_optional(obj: dict) -> bool:
    """Whether the optional keys of ``obj`` are all known and valid (what check_record's field-by-field
    checks would pass): strings or null, the end types exactly DRUG, sentence_index an integer or null."""
    extra = _optional_keys(tuple(obj))
    if extra is None:
        return False
    for k in extra:
        v = obj[k]
        if k == "subject_type" or k == "object_type":
            if v != DRUG or type(v) is not str:
                return False
        elif k == "sentence_index":
            if v is not None and type(v) is not int:
                return False
        elif v is not None and type(v) is not str:
            return False
    return True


def check_record(obj: Any) -> str:
    """Check a parsed line against the ``Triple`` contract, strictly; returns ``extracted_at`` as UTC ISO.

    Stricter than the pydantic model, on purpose: the score must be a JSON number (``"0.8"`` is an
    error, not a coercion), ``extracted_at`` is required (a default of now() would make every reload
    of the same file change the graph) and needs a time zone, and both ends must be drugs
    (``subject_type``/``object_type`` absent or ``药物``). Raises ``ValueError(field, message)``.
    """
    if type(obj) is not dict:
        raise ValueError("<record>", f"expected a JSON object, got {_jtype(obj)}")
    # Fast path (nearly every line): the required fields present and well typed, optional ones absent
    # or plain strings; anything else takes the field-by-field checks below, which word the error.
    try:
        sj, pr, ob, ev, mi, sc, ts = (obj["subject"], obj["predicate"], obj["object"], obj["evidence"],
                                      obj["model_id"], obj["score"], obj["extracted_at"])
    except KeyError:
        pass
    else:
        if (type(sj) is str and type(pr) is str and type(ob) is str and type(ev) is str and type(mi) is str
                and type(ts) is str and (type(sc) is float or type(sc) is int) and 0.0 <= sc <= 1.0
                and sj.strip() and pr.strip() and ob.strip() and ev.strip() and mi.strip()
                and _fast_optional(obj)):
            try:
                return _timestamp(ts)
            except ValueError as exc:
                raise ValueError("extracted_at", str(exc)) from None
    if not obj.keys() <= _FIELDS:
        extra = sorted(obj.keys() - _FIELDS)[0]
        raise ValueError(extra, "not a field of the Triple contract (extra inputs are not permitted)")
    for f in _REQUIRED:
        if f not in obj:
            raise ValueError(f, "field required")
    for f in _NONBLANK:
        v = obj[f]
        if type(v) is not str:
            raise ValueError(f, f"must be a string, not {_jtype(v)}")
        if not v.strip():
            raise ValueError(f, "must be a non-empty string")
    score = obj["score"]
    if type(score) is not float and type(score) is not int:
        raise ValueError("score", f"must be a number, not {_jtype(score)} {score!r}")
    if not 0.0 <= score <= 1.0:
        raise ValueError("score", f"must be between 0 and 1, got {score}")
    for f in ("subject_type", "object_type"):
        v = obj.get(f, DRUG)
        if v != DRUG:
            raise ValueError(f, f"{v!r} is not {DRUG!r}: only drug-drug interactions are loaded")
    for f in _OPTIONAL_STR:
        v = obj.get(f)
        if v is not None and type(v) is not str:
            raise ValueError(f, f"must be a string or null, not {_jtype(v)}")
    v = obj.get("sentence_index")
    if v is not None and type(v) is not int:
        raise ValueError("sentence_index", f"must be an integer or null, not {_jtype(v)}")
    ts = obj["extracted_at"]
    if type(ts) is not str:
        raise ValueError("extracted_at", f"must be an ISO 8601 string, not {_jtype(ts)}")
    try:
        return _timestamp(ts)
    except ValueError as exc:
        raise ValueError("extracted_at", str(exc)) from None


def source_of(t: dict) -> str:
    """The drug whose instruction the triple was read from. CH-DDI puts that drug (the ``@`` prompt)
    in the object position, so the object stands in when the extractor did not record it."""
    src = t.get("source_drug")
    return src if src and src.strip() else t["object"]


@functools.lru_cache(maxsize=256)
def _relation(predicate: str) -> tuple[str, str]:
    rel = check_relation(predicate)
    return rel.graph, rel.zh


@functools.lru_cache(maxsize=65536)
def _plain(v: str) -> str | None:
    return bad_chars(v)  # URLs and model ids repeat across a file


def check_triple(t: dict, *, max_name: int, max_evidence: int) -> tuple[str, str, str, str, str]:
    """(subject key, TYPE, object key, source key, label_zh); ValueError(field, why) when not loadable."""
    out = []
    for fld in ("subject", "object"):
        try:
            out.append(check_name(t[fld], max_length=max_name))
        except ValueError as exc:
            raise ValueError(fld, f"{t[fld]!r} {exc}") from None
    if out[0] == out[1]:
        raise ValueError("object", f"{out[1]!r} is the subject too: a drug does not interact with itself")
    try:
        typ, zh = _relation(t["predicate"].strip())
    except ValueError as exc:
        raise ValueError("predicate", str(exc)) from None
    src = source_of(t)
    try:
        source = check_name(src, max_length=max_name)
    except ValueError as exc:
        raise ValueError("source_drug", f"{src!r} {exc}") from None
    ev = t["evidence"]
    bad = bad_chars(ev, allow_newlines=True)
    if bad:
        raise ValueError("evidence", f"contains the control character {bad}")
    if len(ev) > max_evidence:
        raise ValueError("evidence", f"is {len(ev)} characters long (at most {max_evidence})")
    for fld in ("source_url", "model_id"):
        v = t.get(fld)
        if v and _plain(v):
            raise ValueError(fld, f"contains the control character {_plain(v)}")
    return out[0], typ, out[1], source, zh


def read_triples(
    path: str | os.PathLike,
    *,
    sources: Iterable[str] | None = None,
    on_error: OnError = "raise",
    rejects: str | os.PathLike | None = None,
    max_name: int = 100,
    max_evidence: int = 2000,
    trusted: Callable[[dict[str, str]], set[str]] | None = None,
    digested: Collection[str] | None = None,
) -> RunTriples:
    """Read and group a triples file. With ``sources`` given, a triple from another source is an error
    (a refresh of ``sources`` must not write elsewhere).

    Two passes. The first parses each line and hashes its bytes into its source drug's digest
    (:attr:`RunTriples.digests`; only for sources none of whose lines was rejected). ``trusted``, given
    those digests, names the sources whose digest the graph already holds: their lines are the very
    bytes that passed every check when that digest was stored (same checks, same limits, which the
    digest covers), so the second pass groups them without checking them again; every other line is
    checked in full. ``digested`` (the sources that have a digest stored at all, when the caller
    knows them) lets the first pass check and group the lines of every other source at once, since
    they cannot be trusted: a first load then reads the file in one pass, keeping no line. Bad lines
    are reported in file order within each pass.
    """
    path = require_file(path)  # missing, or a directory: one line
    scope = {check_name(s, max_length=max_name) for s in sources} if sources is not None else None
    run = RunTriples()
    out = _Rejects(Path(rejects) if rejects else None)
    loads = orjson.loads
    seed = DIGEST_VERSION + f":{max_name}:{max_evidence}".encode()

    bad_sources: set[str] = set()
    # What lines of this file already passed every check, so that a line made only of such values
    # needs the per-line checks alone (the fast path below): spelling -> key, predicate -> (TYPE,
    # label_zh), extracted_at -> UTC, model ids, URLs.
    keys: dict[str, str] = {}
    rels: dict[str, tuple[str, str]] = {}
    stamps: dict[str, str] = {}
    # (value -> the same value: the first object seen, so that equal model ids and URLs are one
    # object, hashed once, when the plan groups edges by them)
    models: dict[str, str] = {}
    urls: dict[str, str] = {}
    valid_sources: set[str] = set()
    edges = run.edges
    new_entry = tuple.__new__  # Entry(...) without the namedtuple's Python-level __new__
    bad_text = _BAD_TEXT_SEARCH

    def reject(err: RecordError, raw: bytes, src: str | None) -> None:
        if src is not None:
            bad_sources.add(src)
        if on_error == "raise":
            raise err
        run.rejected += 1
        run.errors.append(err)
        out.write(err, raw.decode("utf-8", "replace").rstrip("\r\n"))

    def check(line_no: int, raw: bytes, t: Any, src: str | None) -> None:
        """Check one line in full (unless it is trusted) and group it."""
        if src is not None and (scope is None or src in scope):
            # Fast path: names, relation, timestamp, model id and URL all seen valid before in this
            # file (the lookups fail on anything else, unhashable values included), so only what is
            # particular to the line is checked here: the same rules as check_record and
            # check_triple, which word the error of any line that fails one.
            try:
                ev, sc, mi = t["evidence"], t["score"], t["model_id"]
                s, o, rel, seen = keys[t["subject"]], keys[t["object"]], rels[t["predicate"]], stamps[t["extracted_at"]]
                mi, url = models[mi], urls[t.get("source_url") or ""]
                fast = True
            except (KeyError, TypeError):
                fast = False
            if (fast and s != o and type(ev) is str and (type(sc) is float or type(sc) is int)
                    and 0.0 <= sc <= 1.0 and len(ev) <= max_evidence and ev.strip() and not bad_text(ev)
                    and (len(t) == 7 or _fast_optional(t))):
                run.read += 1
                valid_sources.add(src)
                key = (s, rel[0], o)
                score = round(float(sc), 6)
                e = new_entry(Entry, (ev, src, url, score))
                edge = edges.get(key)
                if edge is None:
                    edges[key] = RunEdge(rel[1], {(src, ev): e}, mi, score, seen, seen)
                else:
                    edge.add(e, mi, seen)
                return
        try:
            if t is None:
                raise _json_error(path, line_no, raw)
            try:
                seen = check_record(t)
                s, typ, o, source, zh = check_triple(t, max_name=max_name, max_evidence=max_evidence)
            except ValueError as exc:
                raise RecordError(path, line_no, exc.args[0], exc.args[1]) from None
            if scope is not None and source not in scope:
                raise RecordError(path, line_no, "source_drug",
                                  f"{source!r} is outside the refresh scope ({len(scope)} source drugs)")
        except RecordError as err:
            reject(err, raw, src)
            return
        # run.add registers the spellings as drugs: the fast path, which takes only spellings
        # registered here, need not.
        keys[t["subject"]], keys[t["object"]], rels[t["predicate"]] = s, o, (typ, zh)
        stamps[t["extracted_at"]] = seen
        models.setdefault(t["model_id"], t["model_id"])
        url = t.get("source_url") or ""
        urls.setdefault(url, url)
        run.read += 1
        valid_sources.add(source)
        run.add((s, typ, o), zh, t, source, seen)

    # Pass 1: parse, attribute each line to its source drug, hash the bytes per source; check and
    # group the lines of sources that cannot be trusted, keep the others for pass 2.
    lines: list[tuple] = []  # (edge key or None, label_zh, bytes, source or None, line)
    names: dict[str, str] = {}  # spelling -> key, for lines that may be trusted
    hashes: dict[str, Any] = {}
    src_key: dict[str, str | None] = {}
    try:
        for line_no, raw in _lines(path):
            try:
                t = loads(raw)
            except orjson.JSONDecodeError:
                if digested is None:
                    lines.append((None, "", raw, None, line_no))
                else:
                    check(line_no, raw, None, None)
                continue
            src = None
            if type(t) is dict:  # the source as source_of() finds it (lines without one are rejected)
                spelled = t.get("source_drug")
                if not (type(spelled) is str and spelled.strip()):
                    spelled = t.get("object")
                if type(spelled) is str:
                    src = src_key.get(spelled, "")
                    if src == "":
                        try:
                            src = src_key[spelled] = check_name(spelled, max_length=max_name)
                        except ValueError:
                            src = src_key[spelled] = None
            if src is not None:
                h = hashes.get(src)
                if h is None:
                    h = hashes[src] = hashlib.blake2b(seed, digest_size=16)
                h.update(raw)  # with its line end: a file rewritten with other line ends is simply re-checked
            if digested is not None and (src is None or src not in digested):
                check(line_no, raw, t, src)  # cannot be trusted: checked now
                continue
            if src is None:  # no source: an error, worded in pass 2 (the lines in file order)
                lines.append((None, "", raw, None, line_no))
                continue
            # May be trusted (decided once every digest is known): the line's edge key, should its
            # source be, and its bytes (parsed again if not); its parsed form is not kept.
            try:
                typ, zh = rels[t["predicate"]]
                key = (names[t["subject"]], typ, names[t["object"]])
            except (KeyError, TypeError, AttributeError):
                try:
                    typ, zh = _relation(t["predicate"].strip())
                    s = check_name(t["subject"], max_length=max_name)
                    o = check_name(t["object"], max_length=max_name)
                except (KeyError, TypeError, AttributeError, ValueError):
                    key = None  # not loadable: the source cannot be trusted, and pass 2 says why
                else:
                    names[t["subject"]], names[t["object"]], rels[t["predicate"]] = s, o, (typ, zh)
                    key = (s, typ, o)
            lines.append((key, zh, raw, src, line_no))  # already a RunTriples.deferred item
        digests = {src: h.hexdigest() for src, h in hashes.items()}
        if scope is not None:
            empty = hashlib.blake2b(seed, digest_size=16).hexdigest()
            digests = {src: digests.get(src, empty) for src in scope}
        skip = trusted(digests) if trusted is not None and lines else set()

        # Pass 2: the kept lines, grouped as they are if trusted, else parsed again and checked.
        deferred = run.deferred
        for item in lines:
            key, _, raw, src, line_no = item
            if src in skip and key is not None:
                deferred.append(item)
                valid_sources.add(src)
            else:
                try:
                    t = loads(raw)
                except orjson.JSONDecodeError:
                    t = None
                check(line_no, raw, t, src)
        run.read += len(deferred)
    finally:
        out.close()
    run.sources = scope if scope is not None else valid_sources
    # A digest is stored only for a source all of whose lines were loaded.
    run.digests = {src: d for src, d in digests.items() if src in run.sources and src not in bad_sources}
    run.trusted = skip & set(run.digests)
    return run


def _json_error(path: Path, line_no: int, raw: bytes) -> RecordError:
    text = decode_line(path, line_no, raw.rstrip(b"\r\n"))
    if isinstance(text, UndecodableLine):  # worded as every reader words it: the byte and its column
        return text.error
    try:
        json.loads(text.rstrip("\r\n"))  # with its line end, the position would be on a second line
    except json.JSONDecodeError as err:  # the stdlib words the position; pos + 1 is the line's column
        return RecordError(path, line_no, "<json>", f"invalid JSON at column {err.pos + 1}: {err.msg}")
    return RecordError(path, line_no, "<json>", "invalid JSON (a NaN, an infinity or an integer beyond 64 bits)")


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, start=1):
            if n == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")  # an editor's byte-order mark
            if raw and not raw.isspace():
                yield n, raw


# --------------------------------------------------------------------------- planning


def entries_of(props: dict[str, Any]) -> list[Entry]:
    """The evidence entries stored on an edge (its parallel evidence_* lists)."""
    texts = props.get("evidence") or []
    srcs = props.get("evidence_sources") or []
    urls = props.get("evidence_urls") or []
    scores = props.get("evidence_scores") or []
    return [Entry(t, s, u, float(sc)) for t, s, u, sc in zip(texts, srcs, urls, scores, strict=False)]


def merge_copies(copies: list[dict[str, Any]]) -> dict[str, Any]:
    """One state for several copies of an edge (left by concurrent loads before the load lock, or by
    hand): the union of their evidence entries (the best score per sentence), the earliest first_seen,
    the latest last_seen, and the first copy's model_id and run_id."""
    best: dict[tuple[str, str], Entry] = {}
    for c in copies:
        for e in entries_of(c):
            old = best.get(e.ident)
            if old is None or e.score > old.score:
                best[e.ident] = e
    entries = sorted(best.values(), key=lambda e: (e.source, e.text))
    merged = dict(copies[0])
    merged.update(evidence=[e.text for e in entries], evidence_sources=[e.source for e in entries],
                  evidence_urls=[e.url for e in entries], evidence_scores=[e.score for e in entries])
    firsts = [c["first_seen"] for c in copies if c.get("first_seen")]
    lasts = [c["last_seen"] for c in copies if c.get("last_seen")]
    merged["first_seen"] = min(firsts) if firsts else None
    merged["last_seen"] = max(lasts) if lasts else None
    return merged


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

    create: dict[str, list[dict | list]] = field(default_factory=dict)  # a list: a row in EDGE_COLUMNS order
    # With ``grouped``: new one-sentence edges per type, by (object, source, URL, whether the source is
    # offsite, model id, first/last seen) -> rows [subject, sentence, score] (statements.GROUP_ROW).
    grouped: dict[str, dict[tuple, list[tuple]]] = field(default_factory=dict)
    update: dict[str, list[dict]] = field(default_factory=dict)
    delete: dict[str, list[dict]] = field(default_factory=dict)
    # Unchanged sources (digest equal, edges not read back): [source, IN/OUT, its number of edges
    # ending/starting at it]; their edges' run_id moves in place.
    confirm: list[list[Any]] = field(default_factory=list)
    status: dict[EdgeKey, str] = field(default_factory=dict)  # added/updated/unchanged/removed per planned key
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    repaired: int = 0  # edge identities found with more than one copy, merged back into one


_COMPARED = ("evidence", "evidence_sources", "evidence_urls", "evidence_scores", "score")


def plan_refresh(run: RunTriples, existing: dict[EdgeKey, dict[str, Any]], run_id: str, *,
                 keys: Iterable[EdgeKey] | None = None, duplicates: Iterable[EdgeKey] = (),
                 grouped: bool = False) -> Plan:
    """The change that makes the graph match ``run`` for ``run.sources``.

    ``existing`` holds the current properties of every edge that has evidence from those sources or
    that the run mentions (for ``duplicates``, the merge of the copies: all of them are deleted and
    one is created). ``keys`` limits the run's edges planned here (default: all). *unchanged* edges
    are confirmed: only ``run_id``/``last_seen`` move (and nothing is written when even those are
    equal, so loading a file twice writes nothing). ``grouped`` puts new one-sentence edges in
    :attr:`Plan.grouped` (the factored form) instead of :attr:`Plan.create`.
    """
    plan = Plan()
    scope = run.sources
    dups = set(duplicates)
    edges = run.edges
    status = plan.status
    run_keys = edges.keys() if keys is None else keys
    flat: dict[tuple, list[tuple]] = {}  # (TYPE, *group key) -> rows, for plan.grouped
    # Existing edges first, then the run's new ones in file order (deterministic for a given file and
    # graph; sorting 100,000 keys cost more than it bought).
    for key in existing:
        _plan_edge(plan, key, existing.get(key), edges.get(key), scope, dups, run_id)
    added = 0
    for key in run_keys:
        if key in existing:
            continue
        new = edges[key]
        if len(new.entries) != 1 or key in dups:
            _plan_edge(plan, key, None, new, scope, dups, run_id)
            continue
        # A new edge with one sentence: nearly every edge of a first load.
        (e,) = new.entries.values()
        src = e.source
        offsite = src != key[0] and src != key[2]
        if grouped:
            gk = (key[1], key[2], src, e.url, offsite, new.model_id, new.first_seen, new.last_seen)
            rows = flat.get(gk)
            if rows is None:
                flat[gk] = [(key[0], e.text, e.score)]
            else:
                rows.append((key[0], e.text, e.score))
        else:  # already a wire row (statements.EDGE_COLUMNS order; edge_values passes it through)
            plan.create.setdefault(key[1], []).append([
                key[0], key[2], [e.text], [src], [e.url], [e.score], e.score, new.model_id, new.first_seen,
                new.last_seen, run_id, [src] if offsite else []])
        added += 1
        status[key] = "added"
    plan.added += added
    for (typ, *gk), rows in flat.items():
        plan.grouped.setdefault(typ, {})[tuple(gk)] = rows
    return plan


def _plan_edge(plan: Plan, key: EdgeKey, old: dict[str, Any] | None, new: RunEdge | None, scope: set[str],
               dups: set[EdgeKey], run_id: str) -> None:
    """Plan one edge in full: kept entries of other sources, this run's, copies to merge."""
    typ = key[1]
    kept = [e for e in entries_of(old) if e.source not in scope] if old else []
    entries = kept + (list(new.entries.values()) if new else [])
    if key in dups:
        plan.delete.setdefault(typ, []).append({"s": key[0], "o": key[2]})
        plan.repaired += 1
    if not entries:
        if old is not None:
            if key not in dups:
                plan.delete.setdefault(typ, []).append({"s": key[0], "o": key[2]})
            plan.removed += 1
            plan.status[key] = "removed"
        return
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
        plan.status[key] = "added"
        return
    same = all(_norm(old.get(p)) == _norm(row[p]) for p in _COMPARED)
    if same:
        plan.unchanged += 1
    else:
        plan.updated += 1
    plan.status[key] = "unchanged" if same else "updated"
    if key in dups:
        plan.create.setdefault(typ, []).append(row)
    elif not same or any(_norm(old.get(p)) != _norm(row[p]) for p in ROW_PROPERTIES):
        plan.update.setdefault(typ, []).append(row)


def _norm(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 6)
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    return v
