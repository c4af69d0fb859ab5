"""Sharded extraction on a real local Dask cluster (2 worker processes) under a Prefect flow run:
the same graph as the in-process reference build, edge for edge; a rerun reuses every shard."""

from __future__ import annotations

import json
import os

import pytest

from ddikg.flows.shards import split_corpus
from tests.flows import graphview

pytestmark = pytest.mark.slow


def _overfit_model(out):
    """A tiny model fitted to CH-DDI test statements, which the test site's drug pages hold: it finds
    their drugs whatever the machine's load (a step budget, not a time budget), so the graphs compared
    are not empty. It keeps every scored drug pair as a relation (threshold 1e-6), so the edges follow
    its entity predictions on every shard."""
    from ddikg.annotate.chddi import CHDDI_TEST
    from ddikg.iser_model import api
    from ddikg.iser_model.presets import tiny_config
    from tests.flows.support import corpus_slice

    data = corpus_slice(CHDDI_TEST, out.parent / "overfit.jsonl", 40)
    cfg = tiny_config(epochs=40, eval_every=40, batch_size=4, seed=1, lr=2e-3, threads=1, relation_threshold=1e-6,
                      model_id="iser-scale-test")
    api.train(data, data, out, config=cfg, progress=False)
    return out


def test_local_dask_cluster_builds_the_in_process_graph_edge_for_edge(e2e):
    from ddikg.flows.build_kg import build_kg

    model = _overfit_model(e2e.root / "scale-model")
    extra = {"model": {"model_dir": str(model)}}
    inproc = build_kg(home=str(e2e.root / "scale-ref"), overrides=e2e.overrides("scale-ref", **extra))
    ref_settings = e2e.settings(e2e.root / "scale-ref", "scale-ref", **extra)
    ref_edges = graphview.edges(ref_settings)
    assert ref_edges, "the in-process graph is empty: comparing with it would prove nothing"
    assert inproc.extract["runner"] == "in-process" and inproc.extract["shards"] >= 2
    assert inproc.extract["model_loads"] == 1  # one load for every shard of the in-process run

    home = e2e.root / "dask"
    settings = e2e.settings(home, "dask", **extra)
    s = build_kg(home=str(home), overrides=e2e.overrides("dask", **extra), workers=2)
    ext = s.extract
    assert ext["runner"] == "dask" and ext["shards"] == inproc.extract["shards"] >= 2 and ext["shards_cached"] == 0
    assert ext["statements"] == inproc.extract["statements"] and s.triples == inproc.triples > 0
    # the shards ran in worker processes, each of which loaded the model once
    assert 1 <= ext["processes"] <= 2 and ext["model_loads"] == ext["processes"]
    assert graphview.edges(settings) == ref_edges
    assert graphview.drugs(settings) == graphview.drugs(ref_settings)

    # every shard's content and model are unchanged: a full rerun extracts nothing
    again = build_kg(home=str(home), overrides=e2e.overrides("dask", **extra), workers=2, full=True)
    assert again.extract["shards_cached"] == again.extract["shards"] == ext["shards"]
    assert again.extract["model_loads"] == 0
    assert graphview.edges(settings) == ref_edges


def _corpus(path, drugs: dict[str, list[str]]):
    with path.open("w", encoding="utf-8") as fh:
        for drug, texts in drugs.items():
            for i, text in enumerate(texts):
                fh.write(json.dumps({"text": f"{drug}@{text}", "spo_list": [], "prompt": drug,
                                     "meta": {"source_drug": drug, "index": i}}, ensure_ascii=False) + "\n")
    return path


def test_shards_keep_each_drug_whole_and_are_named_by_content(tmp_path):
    drugs = {f"药{i}": [f"与药{j}合用,作用加强" * (1 + i % 3) for j in range(1 + i % 4)] for i in range(12)}
    corpus = _corpus(tmp_path / "corpus.jsonl", drugs)
    shards = split_corpus(corpus, tmp_path / "shards", shard_statements=5)
    n = sum(len(v) for v in drugs.values())
    assert len(shards) == -(-n // 5)
    seen: dict[str, int] = {}
    lines = []
    for k, shard in enumerate(shards):
        for line in shard.read_text(encoding="utf-8").splitlines():
            drug = json.loads(line)["meta"]["source_drug"]
            assert seen.setdefault(drug, k) == k, f"{drug} is split over shards {seen[drug]} and {k}"
            lines.append(line)
    assert sorted(lines) == sorted(corpus.read_text(encoding="utf-8").splitlines())  # nothing lost or doubled
    # the same corpus cuts into the same files; a changed drug changes its shard's name
    assert split_corpus(corpus, tmp_path / "shards", shard_statements=5) == shards
    drugs["药0"] = ["与药9合用,作用减弱"]
    changed = split_corpus(_corpus(tmp_path / "corpus2.jsonl", drugs), tmp_path / "shards", shard_statements=5)
    assert set(changed) != set(shards)
    assert os.path.commonpath([str(p) for p in changed]) == str(tmp_path / "shards")


def test_a_bad_corpus_line_is_named(tmp_path):
    from ddikg.jsonl import RecordError

    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"text": "a@b", "spo_list": []}\n{not json\n', encoding="utf-8")
    with pytest.raises(RecordError, match=r"c\.jsonl:2: <json>"):
        split_corpus(corpus, tmp_path / "shards", 4)


def test_deployments_carry_the_runner_as_flow_parameters(tmp_path):
    from ddikg.config import load_settings
    from ddikg.flows.deployments import deployments

    settings = load_settings(home=tmp_path / "home")
    for d in deployments(settings, parameters={"workers": 3, "dask_address": "tcp://10.0.0.5:8786"}):
        assert d.parameters["workers"] == 3 and d.parameters["dask_address"] == "tcp://10.0.0.5:8786"
    from prefect.utilities.callables import parameter_schema

    from ddikg.flows.build_kg import build_kg

    # the flow takes them, so a run can override them (--param workers=4)
    assert {"workers", "dask_address"} <= set(parameter_schema(build_kg.fn).properties)
