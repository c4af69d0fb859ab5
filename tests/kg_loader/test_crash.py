"""A loader killed between batches leaves no trace, and a rerun gives the uninterrupted graph."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from ddikg.kg_loader.api import load_triples

from .conftest import snapshot, triple, with_graph, write_lines

BASE = [triple(f"药{i}", "拮抗", "华法林") for i in range(6)] + [triple(f"药{i}", "协同", "氨氯地平") for i in range(4)]
NIGHTLY = ([triple(f"药{i}", "拮抗", "华法林", f"华法林@新证据{i}") for i in range(3, 9)]
           + [triple(f"新药{i}", "禁忌", "华法林") for i in range(5)])


@pytest.mark.parametrize("atomic", [True, False], ids=["atomic", "batched"])
def test_killed_between_batches_then_rerun_equals_uninterrupted(graph_settings, tmp_path, atomic):
    base = write_lines(tmp_path / "base.jsonl", BASE)
    nightly = write_lines(tmp_path / "nightly.jsonl", NIGHTLY)
    reference = with_graph(graph_settings, graph_settings.graph.graph + "-ref")
    for s in (graph_settings, reference):
        load_triples(s, base, run_id="r1")
    before = snapshot(graph_settings)
    assert before == snapshot(reference)

    # Uninterrupted nightly run on the reference graph.
    ref = load_triples(reference, nightly, run_id="r2")
    assert ref.batches > 6 and (ref.added, ref.updated, ref.removed) == (8, 3, 3)

    # The same run in a child process that SIGKILLs itself after its 4th batch was sent.
    g = graph_settings.graph
    script = textwrap.dedent(f"""
        import os, signal
        from ddikg.config import load_settings
        from ddikg.kg_loader.api import load_triples
        s = load_settings(home={str(graph_settings.home)!r},
                          graph={{"port": {g.port}, "graph": {g.graph!r}, "batch_size": {g.batch_size}}})
        def die(i):
            if i == 3:
                os.kill(os.getpid(), signal.SIGKILL)
        load_triples(s, {str(nightly)!r}, run_id="r2", on_batch=die, atomic={atomic})
        raise SystemExit("not killed")
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    if atomic:
        assert snapshot(graph_settings) == before  # nothing of the killed run is visible
    else:
        assert snapshot(graph_settings) != before  # batched: what was sent before the kill is there

    rerun = load_triples(graph_settings, nightly, run_id="r2", atomic=atomic)
    if atomic:
        assert (rerun.added, rerun.updated, rerun.removed, rerun.unchanged) == (
            ref.added, ref.updated, ref.removed, ref.unchanged)
    assert snapshot(graph_settings) == snapshot(reference)


def test_failure_inside_the_transaction_rolls_nothing_in(graph_settings, tmp_path):
    base = write_lines(tmp_path / "base.jsonl", BASE)
    load_triples(graph_settings, base, run_id="r1")
    before = snapshot(graph_settings)

    class Boom(RuntimeError):
        pass

    def fail(i: int) -> None:
        if i == 2:
            raise Boom("injected")

    nightly = write_lines(tmp_path / "nightly.jsonl", NIGHTLY)
    try:
        load_triples(graph_settings, nightly, run_id="r2", on_batch=fail)
    except Boom:
        pass
    else:
        raise AssertionError("the injected failure did not surface")
    assert snapshot(graph_settings) == before
