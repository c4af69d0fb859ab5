"""The public Python API of the graph stage (what the Prefect flows call)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from ddikg.config import Settings
from ddikg.contracts import RawDrugRecord
from ddikg.jsonl import OnError
from ddikg.kg_loader.backends import Backend, backend_for
from ddikg.kg_loader.loader import LoadSummary, NodeSummary, load_drugs_into, load_triples_into
from ddikg.kg_loader.loader import ensure_schema as _ensure_schema
from ddikg.kg_loader.model import normalise_name
from ddikg.kg_loader.queries import coerce_params, get_query

__all__ = ["open_graph", "ensure_schema", "load_drugs", "load_triples", "run_query", "LoadSummary", "NodeSummary"]


@contextmanager
def open_graph(settings: Settings) -> Iterator[Backend]:
    """A connection to the configured graph (Neo4j when NEO4J_URI is set, else the embedded server).

    Starts nothing: the embedded server is started by ``ddikg graph start`` (or
    :class:`ddikg.kg_loader.server.EmbeddedGraphServer`).
    """
    backend = backend_for(settings)
    try:
        yield backend
    finally:
        backend.close()


def ensure_schema(backend: Backend) -> None:
    """Create the unique keys / indexes the loader relies on (harmless to repeat)."""
    _ensure_schema(backend)


def load_drugs(settings: Settings, raw_path_or_records: str | os.PathLike | Iterable[RawDrugRecord], *,
               run_id: str, on_error: OnError = "raise", rejects: str | os.PathLike | None = None) -> NodeSummary:
    """Merge Drug and Disease nodes and INDICATED_FOR edges from crawled records (a raw JSONL or records)."""
    with open_graph(settings) as backend:
        return load_drugs_into(backend, settings, raw_path_or_records, run_id=run_id, on_error=on_error,
                               rejects=rejects)


def load_triples(settings: Settings, triples_path: str | os.PathLike, *, run_id: str,
                 sources: list[str] | None = None, on_error: OnError = "raise",
                 rejects: str | os.PathLike | None = None,
                 on_batch: Callable[[int], None] | None = None, atomic: bool = True) -> LoadSummary:
    """Make the graph's DDI edges for ``sources`` (default: every source drug in the file) match the file.

    Edges from other source drugs are untouched. The change is applied in one transaction; with
    ``atomic=False`` batch by batch, pipelined (faster for large first loads; a crash then leaves
    the batches sent so far visible until a rerun completes them).
    """
    with open_graph(settings) as backend:
        return load_triples_into(backend, settings, triples_path, run_id=run_id, sources=sources,
                                 on_error=on_error, rejects=rejects, on_batch=on_batch, atomic=atomic)


def run_query(settings: Settings, name: str, params: dict) -> list[dict]:
    """Run a named query of ``queries.cypher``; string parameters are normalised like node keys."""
    q = get_query(name)
    values = {k: normalise_name(v) if isinstance(v, str) else v for k, v in coerce_params(q, params).items()}
    with open_graph(settings) as backend:
        return backend.run(q.cypher, values, read_only=True)
