"""build-kg end to end on CPU: the fixture site -> segment -> ISER -> the embedded graph.

One graph server and one fixture site serve the module (conftest ``e2e``); the first build trains
the test model (a much smaller config than the demo's) because the home has none.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from flows.jsonl import read_jsonl
from tests.flows import graphview
from tests.flows.support import python_cli

pytestmark = pytest.mark.slow

INTERACTIONS = "药物相互作用"


@pytest.fixture(scope="module")
def first_build(e2e):
    """The uninterrupted reference build: trains the model, loads every fixture drug."""
    from flows.build_kg import build_kg

    home = e2e.root / "ref"
    summary = build_kg(home=str(home), overrides=e2e.overrides("ref"))
    settings = e2e.settings(home, "ref")
    e2e.reference = {"home": home, "settings": settings, "summary": summary,
                     "edges": graphview.edges(settings), "drugs": graphview.drugs(settings)}
    return e2e.reference


def _correct_on_sample_test(model_dir: Path, tmp: Path) -> set[tuple[str, str, str, str]]:
    """(subject, predicate, object, sentence) the model gets right on the repository's sample test set."""
    from annotate.sample import SAMPLE_TEST
    from flows.contracts import ChddiRecord, Triple
    from iser_model.api import extract

    out = tmp / "sample-test.triples.jsonl"
    extract(model_dir, SAMPLE_TEST, None, out, batch_size=32, device="cpu")
    predicted = {(t.subject, t.predicate, t.object, t.evidence) for t in read_jsonl(out, Triple)}
    gold = {(s.subject, s.predicate, s.object_text, r.text)
            for r in read_jsonl(SAMPLE_TEST, ChddiRecord) for s in r.spo_list}
    return predicted & gold


def test_build_kg_holds_the_drugs_and_what_the_model_got_right(e2e, first_build, tmp_path):
    from flows.labels import relation
    from kg_loader.model import normalise_name

    s = first_build["summary"]
    assert s.model.trained and s.model.promoted and s.model.reason == "no current model"
    n_drugs = len(e2e.site.drugs)
    assert s.drugs_crawled == n_drugs and s.crawl["new"] == n_drugs and len(s.drugs_processed) == n_drugs
    assert (Path(s.home) / "runs" / s.run_id / "summary.json").is_file()
    # every fixture drug is a node
    assert {normalise_name(d.name) for d in e2e.site.drugs.values()} <= first_build["drugs"]
    edges = first_build["edges"]
    assert s.load["added"] == len(edges) > 0 and s.load.get("removed", 0) == 0

    correct = _correct_on_sample_test(Path(s.model.model_dir), tmp_path)
    assert correct, "the test model got no relation of the sample test set right: the check would be empty"
    missing = []
    for subj, pred, obj, sentence in correct:
        edge = edges.get((normalise_name(subj), relation(pred).graph, normalise_name(obj)))
        if edge is None or sentence not in {ev for ev, _ in edge["evidence"]}:
            missing.append((subj, pred, obj, sentence))
    assert not missing, f"{len(missing)} of {len(correct)} correctly extracted relations are not in the graph: {missing[:5]}"


def test_rerun_changes_nothing_then_one_edited_page_changes_only_its_edges(e2e, first_build):
    from flows.build_kg import build_kg

    home, settings = first_build["home"], first_build["settings"]
    before = first_build["edges"]
    again = build_kg(home=str(home), overrides=e2e.overrides("ref"))
    assert again.drugs_processed == [] and again.crawl["unchanged"] == len(e2e.site.drugs)
    assert again.edges_changed == 0 and graphview.edges(settings) == before
    assert not again.model.trained  # the model is reused

    # Pick an edge read from one sentence of one drug, and drop that sentence from the drug's page.
    (key, edge) = next((k, e) for k, e in sorted(before.items()) if len(e["evidence"]) == 1)
    sentence, source = edge["evidence"][0]
    drug = next(d for d in e2e.site.drugs.values() if d.name == source)
    original = drug.sections[INTERACTIONS]
    statement = sentence.partition("@")[2]
    assert statement in original
    edited = original.replace(statement, "", 1)
    e2e.site.edit_drug(drug.drug_id, INTERACTIONS, edited)
    try:
        third = build_kg(home=str(home), overrides=e2e.overrides("ref"))
    finally:
        e2e.site.edit_drug(drug.drug_id, INTERACTIONS, original)
    assert third.crawl["changed"] == 1 and third.drugs_processed == [drug.name]
    assert third.load["removed"] >= 1
    after = graphview.edges(settings)
    assert key not in after or sentence not in {ev for ev, _ in after[key]["evidence"]}
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert key in changed
    for k in changed:  # only edges with evidence from the edited drug moved
        sources = {src for _, src in before.get(k, {}).get("evidence", ())} | \
                  {src for _, src in after.get(k, {}).get("evidence", ())}
        assert source in sources, f"edge {k} changed although it has no evidence from {source}"
    assert third.load["added"] + third.load["removed"] + third.load.get("updated", 0) >= len(changed)


def _wait_for_line(proc: subprocess.Popen, needle: str, seen: list[str], timeout: float) -> bool:
    found = threading.Event()

    def pump():
        for line in proc.stderr:  # type: ignore[union-attr]
            seen.append(line)
            if needle in line:
                found.set()

    threading.Thread(target=pump, daemon=True).start()
    return found.wait(timeout)


def test_killed_run_then_rerun_gives_the_uninterrupted_graph(e2e, first_build):
    """SIGKILL `ddikg build-kg` while it loads; the next run completes the graph exactly."""
    from flows.build_kg import build_kg
    from flows.ledger import read_ledger

    home = e2e.root / "killed"
    model = first_build["home"] / "models" / "current"
    # batch_size 1: the load takes many transactions, so the kill lands in the middle of it
    extra = {"model": {"model_dir": str(model)}, "graph": {"batch_size": 1}}
    env = e2e.env(home, "killed", **extra) | {"PREFECT_HOME": str(home / "prefect"), "PREFECT_LOGGING_LEVEL": "INFO"}
    proc = subprocess.Popen([*python_cli(), "build-kg", "--no-progress"], env=env, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True, start_new_session=True)
    seen: list[str] = []
    try:
        assert _wait_for_line(proc, "loading ", seen, timeout=150), "".join(seen[-40:])
        time.sleep(0.3)
        assert proc.poll() is None, "build-kg finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    settings = e2e.settings(home, "killed", **extra)
    assert read_ledger(settings) == {}  # the killed run never committed

    rerun = build_kg(home=str(home), overrides=e2e.overrides("killed", **extra))
    assert len(rerun.drugs_processed) == len(e2e.site.drugs)  # all still pending
    assert graphview.edges(settings) == first_build["edges"]
    assert graphview.drugs(settings) == first_build["drugs"]
