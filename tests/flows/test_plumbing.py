"""The flow's bookkeeping without the stages: ledger, model promotion, fingerprints, artifacts, deployments."""

from __future__ import annotations

import json

import pytest

from ddikg.config import load_settings
from ddikg.contracts import RawDrugRecord
from ddikg.flows.artifacts import crawl_markdown, evaluation_markdown, load_markdown, md_table, run_markdown
from ddikg.flows.fingerprint import model_key, raw_fingerprint
from ddikg.flows.ledger import commit, graph_target, ledger_path, pending, read_ledger
from ddikg.flows.model_registry import current_model, promote
from ddikg.flows.summary import BuildSummary, ModelReport


def _drug(i: int, text: str = "1.与多巴胺合用,利尿作用加强。") -> RawDrugRecord:
    return RawDrugRecord(drug_id=str(i), name=f"药{i}", url=f"http://x/{i}.shtml", sections={"药物相互作用": text})


def _checkpoint(path, weights: bytes, model_id: str = "iser"):
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"model_id": model_id}))
    (path / "model.safetensors").write_bytes(weights)
    return path


def test_ledger_marks_only_new_changed_or_other_model_pending(ddikg_home):
    s = load_settings()
    a, b = _drug(1), _drug(2)
    assert pending([a, b], read_ledger(s), "m@1") == [a, b]  # nothing loaded yet
    commit(s, [a, b], "m@1", "run1")
    assert pending([a, b], read_ledger(s), "m@1") == []
    b2 = _drug(2, "1.禁与华法林合用。")
    assert pending([a, b2], read_ledger(s), "m@1") == [b2]  # content changed
    assert pending([a, b], read_ledger(s), "m@2") == [a, b]  # another model: re-extract all
    assert pending([a, b], read_ledger(s), "m@1", full=True) == [a, b]
    assert read_ledger(s)["2"]["run_id"] == "run1"


def test_ledger_is_per_graph_and_says_when_corrupt(ddikg_home):
    s1 = load_settings(graph={"graph": "one"})
    s2 = load_settings(graph={"graph": "two"})
    assert graph_target(s1) != graph_target(s2) and ledger_path(s1) != ledger_path(s2)
    commit(s1, [_drug(1)], "m", "r")
    assert read_ledger(s2) == {}
    ledger_path(s1).write_text("{not json")
    with pytest.raises(ValueError, match="corrupt ledger"):
        read_ledger(s1)


def test_neo4j_target_never_shows_the_password(ddikg_home):
    s = load_settings(graph={"neo4j_uri": "neo4j://db:7687", "neo4j_password": "s3cret"})
    assert "s3cret" not in graph_target(s) and graph_target(s).startswith("neo4j:")


def test_raw_fingerprint_ignores_fetch_time_and_order():
    a, b = _drug(1), _drug(2)
    a_later = a.model_copy(update={"fetched_at": a.fetched_at.replace(year=2030)})
    assert raw_fingerprint([a, b]) == raw_fingerprint([b, a_later])
    assert raw_fingerprint([a, b]) != raw_fingerprint([a, _drug(2, "1.禁与华法林合用。")])


def test_promotion_swaps_the_current_link(ddikg_home):
    s = load_settings()
    assert current_model(s) is None
    m1 = _checkpoint(s.models_dir / "iser-1", b"one")
    m2 = _checkpoint(s.models_dir / "iser-2", b"two")
    promote(s, m1)
    assert current_model(s) == s.model_dir and s.model_dir.resolve() == m1.resolve()
    k1 = model_key(s.model_dir)
    promote(s, m2)
    assert s.model_dir.resolve() == m2.resolve()
    assert model_key(s.model_dir) != k1 and k1.startswith("iser@")  # same id, other weights: other key


def test_promotion_into_a_configured_real_directory(ddikg_home, tmp_path):
    target = _checkpoint(tmp_path / "prod-model", b"old")
    s = load_settings(model={"model_dir": target})
    new = _checkpoint(s.models_dir / "iser-9", b"new", model_id="iser-9")
    promote(s, new)
    assert not target.is_symlink() and (target / "model.safetensors").read_bytes() == b"new"
    assert model_key(target).startswith("iser-9@")


def test_markdown_artifacts_hold_the_figures():
    assert "\\|" in md_table([("a|b", 1)])
    crawl = crawl_markdown({"drugs": 42, "new": 1, "changed": 2, "unchanged": 39, "errors": {"timeout": 1}},
                           "http://127.0.0.1:1")
    assert "| drugs | 42 |" in crawl and "timeout" in crawl
    load = load_markdown({"added": 3, "updated": 1, "removed": 2, "unchanged": 10}, sources=1)
    assert "| removed | 2 |" in load and "1 source drug" in load
    rep = ModelReport(model_dir="m", model_key="iser@x", trained=True, promoted=False, reason="worse")
    ev = {"re": {"micro": {"p": 0.5, "r": 0.25, "f1": 0.3333}}}
    md = evaluation_markdown(rep, ev, {"re": {"micro": {"p": 1, "r": 1, "f1": 1.0}}})
    assert "kept the current model" in md and "| candidate | re | 0.5 | 0.25 | 0.3333 |" in md
    s = BuildSummary(run_id="r1", home="h", graph="g", drugs_crawled=5, drugs_processed=["甲"],
                     crawl={"new": 0, "changed": 1, "unchanged": 4}, load={"added": 1, "removed": 2})
    assert "processed 1 drug(s): 甲" in s.headline() and "-2 removed" in s.headline()
    assert s.edges_changed == 3 and "r1" in run_markdown(s)


def test_deployments_nightly_cron_in_shanghai_and_on_demand(ddikg_home):
    from ddikg.flows.deployments import NIGHTLY, ON_DEMAND, deployments

    s = load_settings(flows={"base_url": "http://127.0.0.1:9/"})
    nightly, on_demand = deployments(s)
    assert (nightly.name, on_demand.name) == (NIGHTLY, ON_DEMAND)
    sched = nightly.schedules[0].schedule
    assert sched.cron == "0 2 * * *" and sched.timezone == "Asia/Shanghai"
    assert not on_demand.schedules
    assert nightly.parameters["base_url"] == "http://127.0.0.1:9/"
    assert nightly.parameters["home"] == str(s.home.resolve())
    other, _ = deployments(s, cron="30 3 * * 1", timezone="UTC", parameters={"retrain": True})
    assert other.schedules[0].schedule.cron == "30 3 * * 1" and other.parameters["retrain"] is True


def test_promotion_only_when_not_worse():
    from ddikg.flows.build_kg import promotion

    assert promotion(0.1, None) == (True, "no current model")
    assert promotion(0.5, 0.5)[0] and promotion(0.6, 0.5)[0]  # equal is not worse
    ok, reason = promotion(0.4, 0.5)
    assert not ok and "0.4000 < current 0.5000" in reason


def test_build_checks_the_graph_before_crawling(ddikg_home):
    from ddikg.flows.build_kg import check_graph
    from ddikg.kg_loader.backends import GraphUnavailable
    from tests.flows.support import free_port

    s = load_settings(graph={"port": free_port(), "password": "x", "retries": 0})
    with pytest.raises(GraphUnavailable, match="ddikg graph start"):
        check_graph(s)
