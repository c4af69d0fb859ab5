"""The demo's closing answer: its Cypher over a real graph, and how it is printed."""

from __future__ import annotations

import pytest

from ddikg.contracts import Triple
from ddikg.jsonl import write_jsonl

pytestmark = pytest.mark.slow


def test_demo_query_answers_with_type_direction_and_evidence(e2e, tmp_path, capsys):
    from ddikg.flows.demo import DEMO_DRUG, interactions_of, most_interacting, print_interactions
    from ddikg.kg_loader.api import load_triples

    settings = e2e.settings(tmp_path / "home", "demo-answer")
    s1 = f"{DEMO_DRUG}@与多巴胺合用,利尿作用加强"
    s2 = f"{DEMO_DRUG}@与拟交感神经药物及抗惊厥药物合用,利尿作用减弱"
    s3 = "阿司匹林肠溶片@禁与布美他尼片合用"  # an edge out of the demo drug, from another page
    triples = [
        Triple(subject="多巴胺", predicate="协同", object=DEMO_DRUG, score=0.9, evidence=s1, source_drug=DEMO_DRUG,
               model_id="m"),
        Triple(subject="抗惊厥药物", predicate="拮抗", object=DEMO_DRUG, score=0.7, evidence=s2,
               source_drug=DEMO_DRUG, model_id="m"),
        Triple(subject=DEMO_DRUG, predicate="禁忌", object="阿司匹林肠溶片", score=0.8, evidence=s3,
               source_drug="阿司匹林肠溶片", model_id="m"),
    ]
    path = tmp_path / "t.jsonl"
    write_jsonl(path, triples)
    load_triples(settings, path, run_id="r1")
    rows = interactions_of(settings, DEMO_DRUG)
    got = [(r["drug"], r["type"], r["label"], r["direction"], r["evidence"]) for r in rows]
    assert got == [("多巴胺", "SYNERGY", "协同", "in", s1),
                   ("阿司匹林肠溶片", "CONTRAINDICATION", "禁忌", "out", s3),
                   ("抗惊厥药物", "ANTAGONISM", "拮抗", "in", s2)]
    print_interactions(DEMO_DRUG, rows)
    out = capsys.readouterr().out
    assert "MATCH (d:Drug {name: $drug})-[r]-(other:Drug)" in out  # the query is shown, markup intact
    assert "多巴胺" in out and "SYNERGY" in out and "利尿作用加强" in out
    assert interactions_of(settings, "不存在的药") == []
    assert most_interacting(settings) == DEMO_DRUG  # what the demo shows when its drug has no edge
