"""One writer at a time: concurrent loads in real processes, the lock's fence, and duplicate repair."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from ddikg.kg_loader.api import load_triples, open_graph
from ddikg.kg_loader.backends import FalkorBackend, LeaseLost, LockTimeout, Statement

from .conftest import snapshot, triple, with_graph, write_lines

ROWS = ([triple(f"药{i:03d}", "拮抗", f"源{i % 7}") for i in range(120)]
        + [triple(f"药{i:03d}", "协同", f"源{i % 5}", source=f"源{i % 5}") for i in range(60)])


def copies(settings) -> dict[tuple[str, str, str], int]:
    """Every relationship identity with its number of copies (1 everywhere in a sound graph)."""
    with open_graph(settings) as b:
        rows = b.run("MATCH (a:Drug)-[r]->(b:Drug) RETURN a.name AS a, type(r) AS t, b.name AS b, count(r) AS n",
                     read_only=True)
    return {(r["a"], r["t"], r["b"]): r["n"] for r in rows}


def _child(settings, path, tag: str, barrier) -> str:
    """A loader process that, after sending its first batch, waits (at most 3 s) until the other one
    has sent its first batch too: without a lock both have then planned from the same empty graph."""
    g = settings.graph
    return textwrap.dedent(f"""
        import os, time
        from pathlib import Path
        from ddikg.config import load_settings
        from ddikg.kg_loader.api import load_triples
        s = load_settings(home={str(settings.home)!r},
                          graph={{"port": {g.port}, "graph": {g.graph!r}, "batch_size": {g.batch_size}}})
        me, other = Path({str(barrier / tag)!r}), Path({str(barrier)!r}) / ("b" if {tag!r} == "a" else "a")
        def meet(i):
            if i == 0:
                me.touch()
                deadline = time.monotonic() + 3
                while not other.exists() and time.monotonic() < deadline:
                    time.sleep(0.02)
        r = load_triples(s, {str(path)!r}, run_id="r1", on_batch=meet)
        print(r.added, r.unchanged)
    """)


def test_two_concurrent_loads_of_one_file_leave_no_duplicate(graph_settings, tmp_path):
    path = write_lines(tmp_path / "t.jsonl", ROWS)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")}
    procs = [subprocess.Popen([sys.executable, "-c", _child(graph_settings, path, tag, barrier)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for tag in ("a", "b")]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    # One load created every edge, the other found them all (it planned after the first committed).
    assert sorted(o.split() for o, _ in outs) == [["0", str(len(ROWS))], [str(len(ROWS)), "0"]]
    n = copies(graph_settings)
    assert len(n) == len(ROWS) and set(n.values()) == {1}
    reference = with_graph(graph_settings, graph_settings.graph.graph + "-ref")
    load_triples(reference, path, run_id="r1")
    assert snapshot(graph_settings) == snapshot(reference)


def test_duplicates_inserted_by_hand_are_merged_by_the_next_load(graph_settings, tmp_path):
    path = write_lines(tmp_path / "t.jsonl", ROWS)
    reference = with_graph(graph_settings, graph_settings.graph.graph + "-ref")
    for s in (graph_settings, reference):
        load_triples(s, path, run_id="r1")
    with open_graph(graph_settings) as b:
        # Exact copies of 20 edges (what two unlocked loads left), and a third copy of one of them
        # carrying one more sentence from another source drug.
        b.run("MATCH (a:Drug)-[r:ANTAGONISM]->(c:Drug) WITH a, r, c ORDER BY a.name LIMIT 20 "
              "CREATE (a)-[r2:ANTAGONISM]->(c) SET r2 = properties(r)")
        b.run("MATCH (a:Drug {name: '药000'})-[r:ANTAGONISM]->(c:Drug) WITH a, r, c LIMIT 1 "
              "CREATE (a)-[r2:ANTAGONISM]->(c) SET r2 = properties(r), r2.evidence = r.evidence + ['外@另一句'], "
              "r2.evidence_sources = r.evidence_sources + ['外'], r2.evidence_urls = r.evidence_urls + [''], "
              "r2.evidence_scores = r.evidence_scores + [0.7], r2.offsite_sources = ['外']")
    assert sum(n - 1 for n in copies(graph_settings).values()) == 21

    s = load_triples(graph_settings, path, run_id="r1")  # the same file again
    assert set(copies(graph_settings).values()) == {1}
    assert s.repaired == 20 and (s.added, s.removed) == (0, 0)
    with open_graph(graph_settings) as b:
        (e,) = b.run("MATCH (:Drug {name: '药000'})-[r:ANTAGONISM]->(:Drug) RETURN properties(r) AS p")
    # The merged edge keeps the extra source's sentence (not this run's scope), sorted by source.
    assert e["p"]["evidence_sources"] == ["外", "源0"] and e["p"]["offsite_sources"] == ["外"]
    with open_graph(graph_settings) as b:  # without that sentence the graph is the reference graph
        b.run("MATCH (:Drug {name: '药000'})-[r:ANTAGONISM]->(:Drug) SET r.evidence = r.evidence[1..], "
              "r.evidence_sources = r.evidence_sources[1..], r.evidence_urls = r.evidence_urls[1..], "
              "r.evidence_scores = r.evidence_scores[1..], r.offsite_sources = []")
    assert snapshot(graph_settings) == snapshot(reference)
    again = load_triples(graph_settings, path, run_id="r1")
    assert again.repaired == 0 and again.unchanged == len(ROWS)


def test_an_edge_deleted_by_hand_comes_back_on_reload(graph_settings, tmp_path):
    path = write_lines(tmp_path / "t.jsonl", ROWS)
    load_triples(graph_settings, path, run_id="r1")
    before = snapshot(graph_settings)
    with open_graph(graph_settings) as b:
        b.run("MATCH (:Drug {name: '药007'})-[r:ANTAGONISM]->() DELETE r")
    s = load_triples(graph_settings, path, run_id="r1")
    assert (s.added, s.unchanged) == (1, len(ROWS) - 1)
    assert snapshot(graph_settings) == before


def test_a_second_lock_holder_waits_and_a_stale_lease_cannot_commit(graph_settings):
    with FalkorBackend.from_settings(graph_settings) as a, FalkorBackend.from_settings(graph_settings) as b:
        with a.load_lock(wait_s=1, lease_s=5) as lease:
            t0 = time.monotonic()
            with pytest.raises(LockTimeout, match="another load holds"), b.load_lock(wait_s=0.3, lease_s=5):
                pass
            assert time.monotonic() - t0 >= 0.3
            # The lease is lost (here: the key deleted, as if it had expired) and another load takes it:
            # the first one's write is refused and leaves nothing.
            a.db.connection.delete(a._lock_name())
            with b.load_lock(wait_s=1, lease_s=5):
                with pytest.raises(LeaseLost):
                    a.write_atomic([Statement("CREATE (:Probe {n: 1})")], fence=lease)
            assert a.run("MATCH (p:Probe) RETURN count(p) AS n")[0]["n"] == 0
        with b.load_lock(wait_s=1, lease_s=0.3) as lease:  # renewed while held, beyond its 0.3 s lease
            time.sleep(0.8)
            b.write_atomic([Statement("CREATE (:Probe {n: 2})")], fence=lease)
        assert b.run("MATCH (p:Probe) RETURN p.n AS n") == [{"n": 2}]
        assert not a.db.connection.exists(a._lock_name())  # released
