"""Neo4jBackend's driver code (sessions, managed write transactions, retries, result handling) over
FalkorDB's experimental Bolt endpoint, in a server started for this module only.

FalkorDB 4.16.3 crashes on any Bolt message over ~4 KB, so every message is kept under a 3,000-byte
budget (tiny batches, short strings); and it aborts when a Bolt write is propagated to its AOF, so
this server runs without persistence. What this proves and does not prove about real Neo4j:
docs/loader.md.
"""

from __future__ import annotations

import json

import pytest

from ddikg.config import load_settings
from ddikg.kg_loader.backends import FalkorBackend, Neo4jBackend, Statement
from ddikg.kg_loader.loader import load_triples_into
from ddikg.kg_loader.server import EmbeddedGraphServer

from .conftest import free_port, snapshot, triple, write_lines

BUDGET = 3000
BOLT_GRAPH = "falkordb"  # the graph FalkorDB's Bolt endpoint reads and writes


@pytest.fixture(scope="module")
def bolt(tmp_path_factory):
    home = tmp_path_factory.mktemp("kg-bolt")
    settings = load_settings(home=home, graph={"port": free_port(), "graph": BOLT_GRAPH, "batch_size": 4})
    bolt_port = free_port(below=32768)  # FalkorDB ignores a BOLT_PORT above the signed 16-bit range
    server = EmbeddedGraphServer(settings, module_args={"BOLT_PORT": bolt_port}, persist=False)
    server.start()
    backend = Neo4jBackend(f"bolt://127.0.0.1:{bolt_port}", "falkordb", server.password,
                           max_message_bytes=BUDGET, max_retry_time=5.0)
    try:
        yield settings, backend
    finally:
        backend.close()
        server.stop(timeout=0.5)  # no data to save; with Bolt on, SHUTDOWN may hang and is then killed


def test_results_come_back_as_plain_values(bolt):
    _, b = bolt
    assert b.run("RETURN 1 AS one, '药' AS s, [1, 2] AS xs", read_only=True) == [{"one": 1, "s": "药", "xs": [1, 2]}]
    # No single quotes here: FalkorDB's Bolt endpoint pastes string parameters into its query text
    # without escaping them (a quote breaks the query); see docs/loader.md.
    name = '"}) DETACH DELETE n //'
    b.run("CREATE (:Probe {name: $n, tags: $t})", {"n": name, "t": ["a", "b"]})
    (row,) = b.run("MATCH (p:Probe) RETURN p AS node, p.name AS name", read_only=True)
    assert row == {"node": {"name": name, "tags": ["a", "b"]}, "name": name}


def test_messages_are_split_to_the_byte_budget(bolt):
    _, b = bolt
    rows = [{"name": f"药物{i:03d}", "aliases": [], "drug_ids": [], "urls": []} for i in range(200)]
    parts = list(b._split(Statement("UNWIND $rows AS r RETURN r", {"rows": rows})))
    assert len(parts) > 1 and sum(p.rows for p in parts) == 200
    for p in parts:
        assert len(json.dumps(p.params, ensure_ascii=False).encode()) + len(p.cypher) < BUDGET
    with pytest.raises(ValueError, match="message budget"):
        list(b._split(Statement("RETURN 1", {"rows": [{"x": "药" * 2000}]})))


def test_load_and_refresh_through_the_neo4j_driver_equal_the_native_load(bolt, tmp_path):
    settings, b = bolt
    first = [triple(f"药{i}", "拮抗" if i % 2 else "协同", "华法林", f"华法林@句{i}") for i in range(24)]
    nightly = first[6:] + [triple("新药", "禁忌", "华法林", "华法林@禁忌")]
    f1, f2 = write_lines(tmp_path / "a.jsonl", first), write_lines(tmp_path / "b.jsonl", nightly)
    s1 = load_triples_into(b, settings, f1, run_id="r1", schema=False)  # FalkorDB does not speak Neo4j DDL
    assert (s1.added, s1.rejected) == (24, 0)
    assert s1.batches > (24 + 25) // 4  # rows batches of 4, cut further by bytes
    s2 = load_triples_into(b, settings, f2, run_id="r2", schema=False)
    assert (s2.added, s2.removed, s2.unchanged) == (1, 6, 18)

    # The same two runs through the native backend into another graph give the same graph.
    native = load_settings(home=settings.home, graph={**settings.graph.model_dump(), "graph": "native"})
    fb = FalkorBackend.from_settings(native)
    try:
        for path, rid in ((f1, "r1"), (f2, "r2")):
            load_triples_into(fb, native, path, run_id=rid)
    finally:
        fb.close()
    bolt_graph = snapshot(settings)
    assert bolt_graph["rels"] and bolt_graph["rels"] == snapshot(native)["rels"]

    # Batch by batch (each its own managed transaction) gives the same graph.
    b.run("MATCH (n) DETACH DELETE n")
    for path, rid in ((f1, "r1"), (f2, "r2")):
        load_triples_into(b, settings, path, run_id=rid, schema=False, atomic=False)
    assert snapshot(settings)["rels"] == bolt_graph["rels"]


def test_managed_transaction_is_retried_on_transient_errors(bolt):
    from neo4j.exceptions import TransientError

    _, b = bolt
    calls: list[int] = []

    def flaky(i: int) -> None:
        calls.append(i)
        if len(calls) == 2:  # the second statement of the first attempt fails transiently
            raise TransientError("injected: Neo.TransientError.Transaction.DeadlockDetected")

    rows = [{"name": f"重试{i}"} for i in range(9)]
    stmts = [Statement("UNWIND $rows AS r MERGE (:Retry {name: r.name})", {"rows": rows[i:i + 3]}) for i in (0, 3, 6)]
    b.write_atomic(stmts, flaky)
    assert calls == [0, 1, 0, 1, 2]  # the driver ran the transaction function again from the start
    assert b.run("MATCH (x:Retry) RETURN count(x) AS n", read_only=True) == [{"n": 9}]
    assert b.is_transient(TransientError("x")) and not b.is_transient(ValueError("x"))


def test_against_a_real_neo4j_when_one_is_given(tmp_path):
    """Opt-in: DDIKG_TEST_NEO4J_URI (+ _USER, _PASSWORD) points at a disposable Neo4j 5 database,
    which this test empties. Nothing here can install Neo4j, so CI skips it."""
    import os

    uri = os.environ.get("DDIKG_TEST_NEO4J_URI")
    if not uri:
        pytest.skip("set DDIKG_TEST_NEO4J_URI (and _USER, _PASSWORD) to a disposable Neo4j 5 to run this")
    from ddikg.kg_loader.api import load_triples, run_query

    settings = load_settings(home=tmp_path, graph={
        "neo4j_uri": uri, "neo4j_user": os.environ.get("DDIKG_TEST_NEO4J_USER", "neo4j"),
        "neo4j_password": os.environ.get("DDIKG_TEST_NEO4J_PASSWORD", ""), "batch_size": 2})
    with Neo4jBackend.from_settings(settings) as b:
        b.run("MATCH (n) DETACH DELETE n")
    first = [triple(f"药{i}", "拮抗", "华法林") for i in range(5)] + [triple("甲", "禁忌", "乙", "乙@'}) DETACH DELETE n //")]
    s1 = load_triples(settings, write_lines(tmp_path / "a.jsonl", first), run_id="r1")
    assert (s1.added, s1.rejected) == (6, 0)
    assert load_triples(settings, write_lines(tmp_path / "a.jsonl", first), run_id="r1").unchanged == 6
    s3 = load_triples(settings, write_lines(tmp_path / "b.jsonl", first[2:5]), run_id="r2", sources=["华法林"])
    assert (s3.added, s3.updated, s3.removed, s3.unchanged) == (0, 0, 2, 3)
    assert len(run_query(settings, "interactions", {"drug": "华法林"})) == 3
    assert run_query(settings, "evidence", {"subject": "甲", "object": "乙"})[0]["sentence"] == "乙@'}) DETACH DELETE n //"


def test_load_lock_node_serialises_loaders_and_fences_a_stale_one(bolt):
    """The Neo4j load lock (a :DdikgLoadLock node) through the official driver: a second holder waits
    and gives up, a lease taken over cannot commit, and a released lock leaves no node behind."""
    from ddikg.kg_loader.backends import LeaseLost, LockTimeout

    _, b = bolt
    with b.load_lock(wait_s=1, lease_s=30) as first:
        with pytest.raises(LockTimeout, match="another load holds"), b.load_lock(wait_s=0.3, lease_s=30):
            pass
        # The lease is taken over (as if it had expired and another load had taken the lock).
        b.run("MATCH (l:DdikgLoadLock) SET l.token = 'someone-else'")
        with pytest.raises(LeaseLost):
            b.write_atomic([Statement("CREATE (:Fenced {n: 1})")], fence=first)
        assert b.run("MATCH (f:Fenced) RETURN count(f) AS n", read_only=True) == [{"n": 0}]
        b.run("MATCH (l:DdikgLoadLock) SET l.token = $t", {"t": first.token})
        b.write_atomic([Statement("CREATE (:Fenced {n: 2})")], fence=first)
    assert b.run("MATCH (f:Fenced) RETURN f.n AS n", read_only=True) == [{"n": 2}]
    assert b.run("MATCH (l:DdikgLoadLock) RETURN count(l) AS n", read_only=True) == [{"n": 0}]
    with b.load_lock(wait_s=1, lease_s=30):  # free again
        pass
