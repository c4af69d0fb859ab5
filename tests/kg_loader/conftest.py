"""One real embedded FalkorDB server for the whole kg_loader test session (free loopback port, tmp
dir); each test works in a graph of its own on it."""

from __future__ import annotations

import itertools
import json
import os
import random
import socket
from pathlib import Path

import pytest

from ddikg.config import Settings, load_settings

_NEO4J_VARS = ("NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD", "NEO4J_DATABASE", "DDIKG_CONFIG")
_graph_ids = itertools.count()


def free_port(below: int | None = None) -> int:
    """A loopback port nobody listens on; ``below`` caps it (FalkorDB's BOLT_PORT must be < 32768)."""
    if below is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    for port in random.sample(range(20000, below), 200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port below {below}")


@pytest.fixture(scope="session")
def graph_server(tmp_path_factory):
    from ddikg.kg_loader.server import EmbeddedGraphServer

    mp = pytest.MonkeyPatch()
    for var in _NEO4J_VARS:
        mp.delenv(var, raising=False)
    home = tmp_path_factory.mktemp("kg-server")
    settings = load_settings(home=home, graph={"port": free_port()})
    server = EmbeddedGraphServer(settings)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        mp.undo()


@pytest.fixture
def graph_settings(graph_server) -> Settings:
    """Settings pointing at a fresh, empty graph on the session server (small batches: many of them)."""
    s = graph_server.settings
    return load_settings(home=s.home, graph={"port": s.graph.port, "graph": f"t{next(_graph_ids)}", "batch_size": 3})


def with_graph(settings: Settings, name: str) -> Settings:
    return load_settings(home=settings.home, graph={**settings.graph.model_dump(), "graph": name})


def triple(subject: str, predicate: str, obj: str, evidence: str | None = None, *, source: str | None = None,
           score: float = 0.9, model: str = "iser-test", url: str | None = None) -> dict:
    src = source or obj
    return {"subject": subject, "predicate": predicate, "object": obj, "score": score,
            "evidence": evidence or f"{src}@{subject}与{obj}合用{predicate}", "source_drug": src,
            "source_url": url or f"https://example.org/drug/{src}", "model_id": model,
            "extracted_at": "2026-11-01T02:00:00+00:00"}


def write_lines(path: Path, rows: list[dict | str]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def snapshot(settings: Settings) -> dict:
    """The whole graph in comparable form: every node and relationship with all its properties."""
    from ddikg.kg_loader.api import open_graph

    with open_graph(settings) as b:
        nodes = b.run("MATCH (n) RETURN labels(n) AS l, properties(n) AS p", read_only=True)
        rels = b.run("MATCH (a)-[r]->(b) RETURN a.name AS a, type(r) AS t, b.name AS b, properties(r) AS p",
                     read_only=True)
    norm = lambda d: json.dumps(d, sort_keys=True, ensure_ascii=False)  # noqa: E731
    return {"nodes": sorted(norm({"l": r["l"], "p": dict(r["p"])}) for r in nodes),
            "rels": sorted(norm({"a": r["a"], "t": r["t"], "b": r["b"], "p": dict(r["p"])}) for r in rels)}


os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
