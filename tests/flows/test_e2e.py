"""build-kg end to end on CPU: the fixture site -> segment -> ISER -> the embedded graph.

The graph server, the fixture site (cut to the test split's drugs) and the reference build are
session fixtures (``conftest.py``); the reference build trains the test model because its home has none.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from ddikg.contracts import Triple
from ddikg.jsonl import read_jsonl
from tests.flows import graphview
from tests.flows.support import python_cli

pytestmark = pytest.mark.slow

INTERACTIONS = "药物相互作用"


def _correct_on_site(model_dir: Path, tmp: Path, drugs: set[str]) -> set[tuple[str, str, str, str]]:
    """(subject, predicate, object, sentence) the model gets right on the annotated statements of the
    fixture site's ``drugs`` (CH-DDI train, dev and test alike).

    Every split, not test alone: what this checks is that every relation the model gets right on a page
    reaches the graph, which needs some right relations whatever the model's held-out quality (a 12-epoch
    scratch model gets few of the held-out drugs' relations right, the training drugs' many)."""
    from ddikg.annotate.chddi import CHDDI_DEV, CHDDI_TEST, CHDDI_TRAIN
    from ddikg.contracts import ChddiRecord
    from ddikg.iser_model.api import extract
    from ddikg.jsonl import write_jsonl

    records = [r for split in (CHDDI_TRAIN, CHDDI_DEV, CHDDI_TEST) for r in read_jsonl(split, ChddiRecord)
               if r.meta is not None and r.meta.source_drug in drugs]
    statements, out = tmp / "site.chddi.jsonl", tmp / "site.triples.jsonl"
    write_jsonl(statements, records)
    extract(model_dir, statements, None, out, batch_size=32, device="cpu")
    predicted = {(t.subject, t.predicate, t.object, t.evidence) for t in read_jsonl(out, Triple)}
    gold = {(s.subject, s.predicate, s.object_text, r.text) for r in records for s in r.spo_list}
    return predicted & gold


def _edge_has(edges: dict, subj: str, pred: str, obj: str, sentence: str) -> bool:
    from ddikg.kg_loader.model import normalise_name
    from ddikg.labels import relation

    edge = edges.get((normalise_name(subj), relation(pred).graph, normalise_name(obj)))
    return edge is not None and sentence in {ev for ev, _ in edge["evidence"]}


def test_build_kg_holds_the_drugs_and_what_the_model_extracted(e2e, first_build, tmp_path):
    from ddikg.kg_loader.model import normalise_name

    s = first_build["summary"]
    assert s.model.trained and s.model.promoted and s.model.reason == "no current model"
    assert Path(s.model.model_dir) == first_build["home"] / "models" / "current"
    n_drugs = len(e2e.site.drugs)
    assert s.drugs_crawled == n_drugs and s.crawl["new"] == n_drugs and len(s.drugs_processed) == n_drugs
    assert s.statements > 100 and s.boilerplate >= 0
    assert (Path(s.home) / "runs" / s.run_id / "summary.json").is_file()
    # every fixture drug is a node
    assert {normalise_name(d.name) for d in e2e.site.drugs.values()} <= first_build["drugs"]
    edges = first_build["edges"]
    assert s.load["added"] == len(edges) and s.load["removed"] == 0

    # every triple the run extracted is an edge carrying its sentence as evidence
    triples = list((Path(s.home) / "triples").glob("*.triples.jsonl"))
    assert len(triples) == 1
    extracted = read_jsonl(triples[0], Triple)
    assert len(extracted) == s.triples
    assert all(_edge_has(edges, t.subject, t.predicate, t.object, t.evidence) for t in extracted)
    assert {(k[0], k[1], k[2]) for k in edges} == {
        (normalise_name(t.subject), graphview.graph_type(t.predicate), normalise_name(t.object)) for t in extracted}

    # and, in particular, every relation of the site's pages the model gets right
    correct = _correct_on_site(Path(s.model.model_dir), tmp_path, {d.name for d in e2e.site.drugs.values()})
    assert len(correct) >= 5, f"the test model got only {len(correct)} of the site's relations right"
    missing = [c for c in correct if not _edge_has(edges, *c)]
    assert not missing, f"{len(missing)} of {len(correct)} correctly extracted relations are not in the graph"


def test_rerun_changes_nothing_then_one_edited_page_changes_only_its_edges(e2e, first_build):
    from ddikg.annotate.segment import normalize
    from ddikg.flows.build_kg import build_kg

    home, settings = first_build["home"], first_build["settings"]
    before = first_build["edges"]
    again = build_kg(home=str(home), overrides=e2e.overrides("ref"))
    assert again.drugs_processed == [] and again.crawl["unchanged"] == len(e2e.site.drugs)
    assert again.edges_changed == 0 and graphview.edges(settings) == before
    assert not again.model.trained  # the model is reused

    # Drop one statement from one drug's page: a sentence an edge was read from, if the model found any.
    # Segmentation folds full-width punctuation and may prefix a nested item with its parent's lead-in,
    # so only statements that are a contiguous run of the folded page can be cut out of it.
    def locate(source: str, sentence: str):
        drug = next(d for d in e2e.site.drugs.values() if d.name == source)
        original = drug.sections[INTERACTIONS]
        statement, folded = sentence.partition("@")[2], normalize(original)
        at = folded.find(statement)
        if at < 0 or len(folded) != len(original):  # positions line up only under width folding
            return None
        return drug, original, original[:at] + original[at + len(statement):]

    single = [(k, e["evidence"][0][1], where) for k, e in sorted(before.items()) if len(e["evidence"]) == 1
              if (where := locate(e["evidence"][0][1], e["evidence"][0][0])) is not None]
    if single:
        key, source, (drug, original, edited) = single[0]
    else:
        key, source = None, "布美他尼片"
        located = locate(source, f"{source}@与多巴胺合用,利尿作用加强")
        assert located is not None
        drug, original, edited = located
    e2e.site.edit_drug(drug.drug_id, INTERACTIONS, edited)
    try:
        third = build_kg(home=str(home), overrides=e2e.overrides("ref"))
    finally:
        e2e.site.edit_drug(drug.drug_id, INTERACTIONS, original)
    assert third.crawl["changed"] == 1 and third.crawl["unchanged"] == len(e2e.site.drugs) - 1
    assert third.drugs_processed == [drug.name]  # the run summary names the one drug it refreshed
    after = graphview.edges(settings)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    for k in changed:  # only edges with evidence from the edited drug moved
        sources = {src for _, src in before.get(k, {}).get("evidence", ())} | \
                  {src for _, src in after.get(k, {}).get("evidence", ())}
        assert source in sources, f"edge {k} changed although it has no evidence from {source}"
    if key is not None:
        assert key in changed and key not in after  # its only sentence is gone, so is the edge
        assert third.load["removed"] >= 1
    assert third.load["added"] + third.load["removed"] + third.load["updated"] >= len(changed)
    assert graphview.drugs(settings) == first_build["drugs"]


def test_a_worse_candidate_is_kept_out_and_the_current_model_keeps_serving(e2e, first_build, tmp_path):
    """A retrain whose candidate scores lower on dev than the current model is not promoted: the registry
    still points to the current model and the build extracts with it (the same triples as the reference)."""
    import json

    from ddikg.contracts import ChddiRecord
    from ddikg.flows.build_kg import build_kg
    from ddikg.flows.fingerprint import model_key
    from ddikg.flows.model_registry import current_model, promote
    from ddikg.iser_model.api import extract
    from ddikg.jsonl import write_jsonl
    from tests.flows.support import corpus_slice

    reference = Path(first_build["summary"].model.model_dir).resolve()
    # A dev file on which the current model is known to score above zero whatever its training budget
    # bought it: its own predictions on training statements, as gold.
    predicted = tmp_path / "predicted.jsonl"
    # 30 statements: the untrained candidate calls half of all spans entities, so each evaluation of it
    # (its own validation, then the promotion gate) scores every pair of them, about a second a statement
    extract(reference, corpus_slice(e2e.train_data, tmp_path / "train-slice.jsonl", 30), predicted,
            tmp_path / "t.jsonl", device="cpu")
    dev = [r for r in read_jsonl(predicted, ChddiRecord) if r.spo_list]
    assert len(dev) >= 3, "the reference model predicts (almost) nothing on training statements"
    write_jsonl(tmp_path / "dev.jsonl", [r.model_copy(update={"meta": None}) for r in dev])
    home = e2e.root / "promotion"
    flows = {"dev_data": str(tmp_path / "dev.jsonl")}
    settings = e2e.settings(home, "promotion", flows=flows)
    promote(settings, reference)  # this home serves the reference build's model
    served = settings.model_dir.resolve()
    # A candidate that cannot learn: one epoch at a learning rate of 1e-9 (dev RE F1 about 0).
    worse = json.loads(e2e.train_config.read_text(encoding="utf-8")) | {"model_id": "iser-worse", "lr": 1e-9,
                                                                         "epochs": 1, "max_seconds": 20.0}
    worse_cfg = tmp_path / "worse.json"
    worse_cfg.write_text(json.dumps(worse), encoding="utf-8")

    flows["train_config"] = str(worse_cfg)
    s = build_kg(home=str(home), retrain=True, overrides=e2e.overrides("promotion", flows=flows))
    assert s.model.trained and s.model.current_f1 is not None and s.model.current_f1 > 0
    assert s.model.candidate_f1 < s.model.current_f1 and not s.model.promoted
    assert "<" in s.model.reason and "dev" in s.model.reason
    assert settings.model_dir.resolve() == served == reference  # the registry still points to the old model
    assert current_model(settings) is not None and model_key(current_model(settings)) == s.model.model_key
    assert s.model.model_key == model_key(reference)
    # Extraction used the current model: the triples are the reference build's, model id included.
    (triples,) = (Path(s.home) / "triples").glob("*.triples.jsonl")
    # the reference build's file of the same pages under the same model (named by both; other tests add
    # files of edited pages to that home)
    ref_triples = first_build["home"] / "triples" / triples.name
    got, want = read_jsonl(triples, Triple), read_jsonl(ref_triples, Triple)
    assert {t.model_id for t in got} == {t.model_id for t in want} != {"iser-worse"}
    assert sorted((t.subject, t.predicate, t.object, t.evidence) for t in got) == \
        sorted((t.subject, t.predicate, t.object, t.evidence) for t in want)


def _wait_for_line(proc: subprocess.Popen, needle: str, seen: list[str], timeout: float) -> bool:
    found = threading.Event()

    def pump():
        for line in proc.stderr:  # type: ignore[union-attr]
            seen.append(line)
            if needle in line:
                found.set()
                break
        found.set()  # EOF: the process ended; the caller sees it did not print the line
        for line in proc.stderr:  # type: ignore[union-attr]
            seen.append(line)

    threading.Thread(target=pump, daemon=True).start()
    return found.wait(timeout) and any(needle in line for line in seen)


def test_killed_run_then_rerun_gives_the_uninterrupted_graph(e2e, first_build):
    """SIGKILL `ddikg build-kg` mid-way (in extraction); running it again ends with the same graph.

    The runs crawl a third of the site's drugs (``--drug-id``) to keep the test short; the result
    must equal that part of the reference graph. (Killing inside the load transaction is the
    loader's own crash test, tests/kg_loader.)
    """
    from ddikg.flows.ledger import read_ledger
    from ddikg.flows.summary import BuildSummary

    home = e2e.root / "killed"
    extra = {"model": {"model_dir": str(first_build["home"] / "models" / "current")}}
    env = e2e.env(home, "killed", **extra) | {"PREFECT_HOME": str(home / "prefect"), "PREFECT_LOGGING_LEVEL": "INFO"}
    ids = sorted(e2e.site.drugs)[::3]
    names = {e2e.site.drugs[i].name for i in ids}
    cmd = [*python_cli(), "build-kg", "--no-progress", "--json", *[a for i in ids for a in ("--drug-id", i)]]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    seen: list[str] = []
    try:
        assert _wait_for_line(proc, "extracting ", seen, timeout=180), "".join(seen[-40:])
        assert proc.poll() is None, "build-kg finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    settings = e2e.settings(home, "killed", **extra)
    assert read_ledger(settings) == {}  # the killed run never committed
    assert graphview.edges(settings) == {}

    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    summary = BuildSummary.model_validate_json(rerun.stdout[rerun.stdout.index("{"):])
    assert summary.crawl["unchanged"] == len(ids)  # the crawler saw these pages before...
    assert set(summary.drugs_processed) == names  # ...but the graph never got them
    assert set(read_ledger(settings)) == set(ids)
    assert graphview.edges(settings) == graphview.restrict(first_build["edges"], names)
    assert names <= graphview.drugs(settings) <= first_build["drugs"]
