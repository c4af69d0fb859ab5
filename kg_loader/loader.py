"""Online loading: schema, drug/disease nodes from crawled records, and refresh-by-source of DDI edges.

A load is *plan, then switch*: the current state of the edges in scope is read, the change is
computed in Python (:mod:`ddikg.kg_loader.plan`), and every batch of it is sent as one transaction
(:meth:`Backend.write_atomic`). If the process dies before the final commit nothing is visible and a
rerun plans the same change again; after the commit a rerun finds nothing to do.
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ddikg.config import Settings
from ddikg.contracts import RawDrugRecord
from ddikg.jsonl import JsonlReader, OnError, default_rejects_path
from ddikg.kg_loader import statements as S
from ddikg.kg_loader.backends import Backend, Statement
from ddikg.kg_loader.model import check_name, disease_kind
from ddikg.kg_loader.plan import EdgeKey, Plan, RunTriples, merge_copies, plan_refresh, read_triples


class LoadSummary(BaseModel):
    run_id: str
    triples: int = 0  # valid triples read
    sources: int = 0  # source drugs in the refresh scope
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    repaired: int = 0  # edge identities found with several copies and merged back into one
    rejected: int = 0
    batches: int = 0
    seconds: float = 0.0
    rejects_path: str | None = None

    def line(self) -> str:
        fixed = f", repaired {self.repaired}" if self.repaired else ""
        return (f"added {self.added}, updated {self.updated}, removed {self.removed}, unchanged {self.unchanged}"
                f"{fixed} ({self.triples} triples, {self.rejected} rejected, {self.batches} batches,"
                f" {self.seconds:.2f} s)")


class NodeSummary(BaseModel):
    run_id: str
    records: int = 0
    drugs: int = 0
    diseases: int = 0
    indicated_for: int = 0
    rejected: int = 0
    batches: int = 0
    seconds: float = 0.0
    rejects_path: str | None = None


def ensure_schema(backend: Backend) -> None:
    """Unique keys / indexes on Drug.name and Disease.name (idempotent)."""
    backend.ensure_schema()


def _chunks(rows: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(rows), size):
        yield rows[i:i + size]


def _batched(cypher: str, rows: Sequence[Any], size: int) -> list[Statement]:
    return [Statement(cypher, {"rows": list(chunk)}) for chunk in _chunks(rows, size)]


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Reading and planning allocate about ten small objects per triple, all alive until the write,
    and none in a reference cycle; the collector's repeated passes over them took a third of the
    read and plan time on 100,000 triples (measured, docs/loader.md#benchmark)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _with_retries(backend: Backend, attempts: int, fn: Callable[[], Any]) -> Any:
    for attempt in range(attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if attempt == attempts or not backend.is_transient(exc):
                raise
            time.sleep(0.5 * 2**attempt)


# --------------------------------------------------------------------------- DDI edges


def stored_digests(backend: Backend, names: list[str], batch_size: int) -> tuple[dict[str, str], set[str]]:
    """(the digest stored on each of ``names`` that has one, those of ``names`` that exist as drugs)."""
    known: set[str] = set()
    stored: dict[str, str] = {}
    for chunk in _chunks(names, batch_size):
        for r in backend.run(S.EXISTING_DRUGS, {"names": list(chunk)}, read_only=True):
            known.add(r["name"])
            if r.get("digest"):
                stored[r["name"]] = r["digest"]
    return stored, known


def changed_sources(backend: Backend, run: RunTriples, batch_size: int) -> tuple[set[str], set[str]]:
    """(sources whose lines differ from those last loaded, drugs that exist), from one small read:
    each existing drug's name and stored digest. A source without a node or digest counts as changed."""
    stored, known = stored_digests(backend, sorted(set(run.drugs) | run.sources), batch_size)
    return {src for src in run.sources if src not in run.digests or stored.get(src) != run.digests[src]}, known


def read_existing(backend: Backend, run: RunTriples, batch_size: int, *, sources: set[str] | None = None,
                  keys: list[EdgeKey] | None = None, known: set[str] | None = None,
                  ) -> tuple[dict[EdgeKey, dict[str, Any]], set[EdgeKey]]:
    """Current properties of the edges with evidence from ``sources`` (default: the run's) or at
    ``keys`` (default: the run's), and the keys found with more than one copy (their state is the
    merge of the copies)."""
    copies: dict[EdgeKey, dict[Any, dict[str, Any]]] = {}
    props = S.EDGE_PROPERTIES
    srcs = sorted(run.sources if sources is None else sources)

    def keep(rows: list[dict]) -> None:
        for r in rows:
            copies.setdefault((r["s"], r["t"], r["o"]), {})[r["id"]] = {p: r[p] for p in props}

    if srcs:
        for chunk in _chunks(srcs, batch_size):
            keep(backend.run(S.EDGES_OF_SOURCES, {"sources": list(chunk)}, read_only=True))
        keep(backend.run(S.EDGES_OFFSITE, {"sources": srcs}, read_only=True))
    if known is None:
        known = set()
        for chunk in _chunks(sorted(run.drugs), batch_size):
            known.update(r["name"] for r in backend.run(S.EXISTING_DRUGS, {"names": list(chunk)}, read_only=True))
    # Only pairs whose both drugs exist can have an edge: a first load probes nothing.
    rows = [{"s": s, "t": t, "o": o} for (s, t, o) in (run.edges if keys is None else keys)
            if s in known and o in known and (s, t, o) not in copies]
    for chunk in _chunks(rows, batch_size):
        keep(backend.run(S.EDGES_AT_KEYS, {"rows": list(chunk)}, read_only=True))
    existing: dict[EdgeKey, dict[str, Any]] = {}
    duplicates: set[EdgeKey] = set()
    for key, by_id in copies.items():
        if len(by_id) == 1:
            (existing[key],) = by_id.values()
        else:
            existing[key] = merge_copies([by_id[i] for i in sorted(by_id)])
            duplicates.add(key)
    return existing, duplicates


def plan_load(backend: Backend, run: RunTriples, run_id: str, batch_size: int, *,
              force: set[str] | None = None, stored: dict[str, str] | None = None) -> tuple[Plan, list[Statement]]:
    """Read what is needed from the graph, plan, and build the statements of one load.

    A source whose digest is unchanged is not read back: its edges are confirmed in place and
    counted on the server (``CONFIRM_SOURCES``). Changed sources, sources with a sentence on an edge
    they are not an end of, and ``force`` are read and planned edge by edge (:func:`plan_refresh`),
    duplicate copies included; so is every edge one of them has a sentence on. ``stored``: every
    drug's digest, when the caller has just read them (under the same lock)."""
    if stored is None:
        stored, _ = stored_digests(backend, sorted(run.sources), batch_size)
    changed = {src for src in run.sources if src not in run.digests or stored.get(src) != run.digests[src]}
    changed |= force or set()
    expected: dict[tuple[str, str], int] = {}  # (source, IN/OUT) -> its edges ending/starting at it
    if changed >= run.sources:  # every source changed (a first load): every edge is planned
        planned = list(run.edges)
    else:
        pairs = run.deferred_pairs()
        pairs.update((key, src) for key, edge in run.edges.items() for src, _ in edge.entries)
        for (s, _, o), src in pairs:
            if src != s and src != o:
                changed.add(src)  # offsite: not found from its own node, so always read
            way = (src, "IN" if src == o else "OUT")
            expected[way] = expected.get(way, 0) + 1
        run.materialize(sources=changed)
        planned = [k for k, e in run.edges.items() if not e.sources.isdisjoint(changed)]
    _, known = stored_digests(backend, sorted({k[0] for k in planned} | {k[2] for k in planned}), batch_size)
    existing, duplicates = read_existing(backend, run, batch_size, sources=changed, keys=planned, known=known)
    run.materialize(keys=[k for k in existing if k not in run.edges])  # the run's other sentences on them
    plan = plan_refresh(run, existing, run_id, keys=planned, duplicates=duplicates,
                        grouped=backend.factored_params)
    plan.unchanged += len({item[0] for item in run.deferred})
    if len(planned) < len(run.edges):
        plan.unchanged += sum(1 for k, e in run.edges.items() if k not in existing and e.sources.isdisjoint(changed))
    # A source without edges in the run is still checked (OUT, expecting 0).
    plan.confirm = sorted([src, way, n] for (src, way), n in expected.items() if src not in changed)
    plan.confirm += [[src, "OUT", 0] for src in sorted(run.sources - changed - {src for src, _ in expected})]
    drugs = sorted({k[0] for k in plan.status} | {k[2] for k in plan.status})
    digests = [[src, run.digests[src]] for src in sorted(changed & run.digests.keys())]
    return plan, plan_statements(run, plan, batch_size, drugs=[d for d in drugs if d in run.drugs],
                                 run_id=run_id, digests=digests)


def merge_counts(first: Plan, second: Plan, run: RunTriples) -> Plan:
    """The counts of a load whose second round re-planned some edges: the first round's, with the
    second's for the edges it planned again."""
    for key, status in second.status.items():
        before = first.status.get(key, "unchanged" if key in run.edges else None)
        if before is not None:
            setattr(first, before, getattr(first, before) - 1)
        setattr(first, status, getattr(first, status) + 1)
    first.repaired += second.repaired
    return first


def plan_statements(run: RunTriples, plan: Plan, batch_size: int, *, drugs: list[str] | None = None,
                    run_id: str = "", digests: list[list[str]] | None = None) -> list[Statement]:
    """Nodes first (so edges find both ends by index), then deletions, updates, creations and
    confirmations, then the sources' digests (last: a digest is stored only with what it describes)."""
    out: list[Statement] = []
    names = sorted(run.drugs) if drugs is None else drugs
    drug_rows = [{"name": k, "aliases": sorted(run.drugs[k]), "drug_ids": [], "urls": []} for k in names]
    out += _batched(S.MERGE_DRUGS, drug_rows, batch_size)
    for typ, rows in sorted(plan.delete.items()):
        out += _batched(S.DELETE_EDGE[typ], S.edge_values(rows, ("s", "o")), batch_size)
    for typ, rows in sorted(plan.update.items()):
        out += _batched(S.UPDATE_EDGE[typ], S.edge_values(rows), batch_size)
    for typ, rows in sorted(plan.create.items()):
        out += _batched(S.CREATE_EDGE[typ], S.edge_values(rows), batch_size)
    for typ, groups in sorted(plan.grouped.items()):
        out += [Statement(S.CREATE_GROUPED[typ], {"run_id": run_id, "rows": chunk})
                for chunk in _group_batches(groups, batch_size)]
    for way in ("IN", "OUT"):
        rows = [[src, n] for src, w, n in plan.confirm if w == way]
        for chunk in _chunks(rows, batch_size):
            out.append(Statement(S.CONFIRM_SOURCES[way], {"run_id": run_id, "rows": list(chunk)}, results=[]))
    if digests:
        out += _batched(S.SET_DIGESTS, digests, batch_size)
    return out


def _group_batches(groups: dict[tuple, list[tuple]], size: int) -> Iterator[list[list]]:
    """Plan.grouped groups as statements.GROUP_COLUMNS lists, packed into batches of at most ``size``
    edges (a group larger than what is left of a batch is split)."""
    batch: list[list] = []
    room = size
    for (o, source, url, offsite, model_id, first, last), rows in groups.items():
        off = [source] if offsite else []
        i = 0
        while i < len(rows):
            part = rows[i:i + room] if i or len(rows) > room else rows
            batch.append([o, source, url, off, model_id, first, last, part])
            i += len(part)
            room -= len(part)
            if room == 0:
                yield batch
                batch, room = [], size
    if batch:
        yield batch


def load_triples_into(
    backend: Backend,
    settings: Settings,
    triples_path: str | os.PathLike,
    *,
    run_id: str,
    sources: list[str] | None = None,
    on_error: OnError = "raise",
    rejects: str | os.PathLike | None = None,
    on_batch: Callable[[int], None] | None = None,
    schema: bool = True,
    atomic: bool = True,
) -> LoadSummary:
    t0 = time.perf_counter()
    g = settings.graph
    rejects_path = Path(rejects) if rejects else default_rejects_path(triples_path)

    def attempt() -> LoadSummary:
        # One writer at a time per graph: the file is read (against the digests on the graph), the
        # plan made and the change written under the load lock, and the write commits only while the
        # lock is still ours. All again on every attempt: after an ambiguous failure (or a lost
        # lease) the graph is read again.
        with backend.load_lock(wait_s=g.lock_wait_s, lease_s=g.lock_lease_s) as lease:
            # Every stored digest, read once: which sources may be trusted, and which are.
            stored = {r["name"]: r["digest"] for r in backend.run(S.DIGESTED_DRUGS, read_only=True)}
            run = read_triples(triples_path, sources=sources, on_error=on_error, rejects=rejects_path,
                               max_name=g.max_name_length, max_evidence=g.max_evidence_length,
                               trusted=lambda digests: {src for src, d in digests.items() if stored.get(src) == d},
                               digested=stored.keys())
            plan, statements = plan_load(backend, run, run_id, g.batch_size, stored=stored)
            write = backend.write_atomic if atomic else backend.write_batches
            sent = write(statements, on_batch, fence=lease)
            # Unchanged sources whose edge count was off (an edge deleted or copied by hand): planned
            # from the graph in a second transaction, still under the lock.
            off = {r["source"] for st in statements if st.results for r in st.results}
            if off:
                again, statements = plan_load(backend, run, run_id, g.batch_size, force=off)
                sent += write(statements, None, fence=lease)
                plan = merge_counts(plan, again, run)
        # Only the counts leave: the run and the plan are freed here, while the collector is paused.
        return LoadSummary(run_id=run_id, triples=run.read, sources=len(run.sources), added=plan.added,
                           updated=plan.updated, removed=plan.removed, unchanged=plan.unchanged,
                           repaired=plan.repaired, rejected=run.rejected, batches=sent,
                           rejects_path=str(rejects_path) if run.rejected else None)

    if not Path(triples_path).exists():  # before waiting for the lock
        raise FileNotFoundError(f"{triples_path}: no such file")
    if schema:
        ensure_schema(backend)
    # The collector is paused from the read to the write, and resumes only once the run and the plan
    # are freed: they are about ten small objects per triple, none in a cycle, and the first
    # collection after a resume would walk every one still alive (0.2-0.4 s per 100,000 triples).
    with gc_paused():
        summary = _with_retries(backend, g.retries, attempt)
    summary.seconds = round(time.perf_counter() - t0, 3)
    return summary


# --------------------------------------------------------------------------- drug and disease nodes


def node_rows(records: Iterable[RawDrugRecord], run_id: str, max_name: int,
              on_reject: Callable[[int, str, str], None]) -> tuple[list[dict], list[dict], list[dict], int]:
    """Drug, Disease and INDICATED_FOR rows from crawled records (merged per normalised name)."""
    drugs: dict[str, dict[str, set[str]]] = {}
    diseases: dict[str, str] = {}
    links: dict[tuple[str, str], set[str]] = {}
    seen: dict[tuple[str, str], str] = {}
    n = 0
    for i, rec in enumerate(records, start=1):
        n += 1
        try:
            key = check_name(rec.name, max_length=max_name)
        except ValueError as exc:
            on_reject(i, "name", f"{rec.name!r} {exc}")
            continue
        d = drugs.setdefault(key, {"aliases": set(), "drug_ids": set(), "urls": set()})
        if rec.name.strip() != key:
            d["aliases"].add(rec.name.strip())
        d["drug_ids"].add(rec.drug_id)
        d["urls"].add(rec.url)
        for via, names in (("disease", rec.diseases), ("category", rec.categories)):
            for raw in names:
                try:
                    dk = check_name(raw, max_length=max_name)
                except ValueError as exc:
                    on_reject(i, via, f"{raw!r} {exc}")
                    continue
                kind = disease_kind(dk) if via == "disease" else "category"
                if diseases.get(dk) != "chronic":
                    diseases[dk] = "chronic" if kind == "chronic" else diseases.get(dk, kind)
                links.setdefault((key, dk), set()).add(via)
                seen[(key, dk)] = max(seen.get((key, dk), ""), rec.fetched_at.isoformat())
    drug_rows = [{"name": k, **{f: sorted(v) for f, v in d.items()}} for k, d in sorted(drugs.items())]
    disease_rows = [{"name": k, "kind": v} for k, v in sorted(diseases.items())]
    link_rows = [{"drug": d, "disease": x, "via": sorted(v), "seen": seen[(d, x)], "run_id": run_id}
                 for (d, x), v in sorted(links.items())]
    return drug_rows, disease_rows, link_rows, n


def load_drugs_into(
    backend: Backend,
    settings: Settings,
    raw_path_or_records: str | os.PathLike | Iterable[RawDrugRecord],
    *,
    run_id: str,
    on_error: OnError = "raise",
    rejects: str | os.PathLike | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> NodeSummary:
    from ddikg.jsonl import RecordError
    from ddikg.kg_loader.plan import _Rejects

    t0 = time.perf_counter()
    g = settings.graph
    if isinstance(raw_path_or_records, (str, os.PathLike)):
        path = Path(raw_path_or_records)
        rejects_path = Path(rejects) if rejects else default_rejects_path(path)
        reader = JsonlReader(path, RawDrugRecord, on_error=on_error, rejects=rejects_path)
        records: list[RawDrugRecord] = list(reader)
        rejected, label = reader.n_bad, str(path)
        # Name problems go to the same rejects file, after the reader's own (appended when it wrote any).
        extra = _Rejects(rejects_path, "a" if reader.n_bad else "w")
    else:
        records, rejected, label, rejects_path = list(raw_path_or_records), 0, "<records>", None
        extra = _Rejects(Path(rejects) if rejects else None)

    def on_reject(i: int, fld: str, why: str) -> None:
        nonlocal rejected
        # Record numbers, not file lines: a record cannot span lines but blank lines are skipped.
        err = RecordError(label, i, fld, why)
        if on_error == "raise":
            raise err
        rejected += 1
        extra.write(err, records[i - 1].to_json())

    try:
        drug_rows, disease_rows, link_rows, n = node_rows(records, run_id, g.max_name_length, on_reject)
    finally:
        extra.close()
    ensure_schema(backend)
    stmts = (_batched(S.MERGE_DRUGS, drug_rows, g.batch_size) + _batched(S.MERGE_DISEASES, disease_rows, g.batch_size)
             + _batched(S.MERGE_INDICATED_FOR, link_rows, g.batch_size))

    def attempt() -> int:
        with backend.load_lock(wait_s=g.lock_wait_s, lease_s=g.lock_lease_s) as lease:
            return backend.write_atomic(stmts, on_batch, fence=lease)

    sent = _with_retries(backend, g.retries, attempt)
    return NodeSummary(run_id=run_id, records=n, drugs=len(drug_rows), diseases=len(disease_rows),
                       indicated_for=len(link_rows), rejected=rejected, batches=sent,
                       seconds=round(time.perf_counter() - t0, 3),
                       rejects_path=str(rejects_path) if rejected and rejects_path else None)
