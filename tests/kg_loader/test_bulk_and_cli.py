"""The neo4j-admin CSV export (parsed back with the csv module) and the stage's CLI commands."""

from __future__ import annotations

import csv
import json

from typer.testing import CliRunner

from ddikg.config import load_settings
from ddikg.contracts import RawDrugRecord
from ddikg.kg_loader.bulk import ARRAY_DELIMITER, DDI_HEADER, DRUG_HEADER, export_csv

from .conftest import triple, write_lines

TRICKY = '华法林@本品与"阿司匹林"合用，可增加出血风险, 应监测 INR；\n另见说明书'


def read_csv(path):
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def test_export_csv_parses_back(tmp_path, ddikg_home):
    rows = [
        triple("阿司匹林", "拮抗", "华法林", TRICKY, url="https://example.org/a?x=1,2"),
        triple("阿司匹林", "拮抗", "华法林", "华法林@第二句", source="阿司匹林", score=0.5),
        triple('药"引号",逗号', "禁忌", "华法林"),
        triple("ＡＢＣ 片", "相加", "华法林"),  # full-width: normalised to "ABC 片", spelling kept as alias
        triple("x", "未知", "y"),
    ]
    triples = write_lines(tmp_path / "t.jsonl", rows)
    rec = RawDrugRecord(drug_id="42", name="华法林", url="https://example.org/drug/42", diseases=["冠心病"],
                        categories=["抗凝药, 口服"], sections={"药物相互作用": "x"}, fetched_at="2026-11-01T00:00:00Z")
    raw = write_lines(tmp_path / "raw.jsonl", [json.loads(rec.to_json())])
    out = tmp_path / "csv"
    s = export_csv(load_settings(), triples, out, raw_path=raw, on_error="skip", run_id="bulk1")
    assert (s.drugs, s.diseases, s.indicated_for, s.interactions, s.rejected) == (4, 2, 2, 3, 1)

    drugs = read_csv(out / "drugs.csv")
    assert drugs[0] == DRUG_HEADER
    by_name = {r[0]: r for r in drugs[1:]}
    assert set(by_name) == {"华法林", "阿司匹林", '药"引号",逗号', "ABC 片"}
    assert by_name["华法林"][2:4] == ["42", "https://example.org/drug/42"]
    assert by_name["ABC 片"][1].split(ARRAY_DELIMITER) == ["ＡＢＣ 片"]
    assert all(r[-1] == "Drug" for r in drugs[1:])

    ddi = read_csv(out / "interactions.csv")
    assert ddi[0] == DDI_HEADER
    rec_by_key = {(r[0], r[2], r[1]): dict(zip(DDI_HEADER, r, strict=True)) for r in ddi[1:]}
    a = rec_by_key[("阿司匹林", "ANTAGONISM", "华法林")]
    assert a["evidence:string[]"].split(ARRAY_DELIMITER) == [TRICKY, "华法林@第二句"]
    assert a["evidence_sources:string[]"].split(ARRAY_DELIMITER) == ["华法林", "阿司匹林"]
    assert [float(x) for x in a["evidence_scores:double[]"].split(ARRAY_DELIMITER)] == [0.9, 0.5]
    assert a["evidence_urls:string[]"].split(ARRAY_DELIMITER)[0] == "https://example.org/a?x=1,2"
    assert a["label_zh"] == "拮抗" and float(a["score:double"]) == 0.9 and a["run_id"] == "bulk1"
    assert ('药"引号",逗号', "CONTRAINDICATION", "华法林") in rec_by_key
    # Every relationship end is a node of the ID space it names.
    assert {k[0] for k in rec_by_key} | {k[2] for k in rec_by_key} <= set(by_name)

    diseases = read_csv(out / "diseases.csv")
    assert sorted(diseases[1:]) == [["冠心病", "chronic", "Disease"], ["抗凝药, 口服", "category", "Disease"]]
    links = read_csv(out / "indicated_for.csv")
    assert {(r[0], r[1], r[-1]) for r in links[1:]} == {("华法林", "冠心病", "INDICATED_FOR"),
                                                         ("华法林", "抗凝药, 口服", "INDICATED_FOR")}
    script = (out / "import.sh").read_text(encoding="utf-8")
    assert s.command in script and "neo4j-admin database import full" in s.command
    assert "--array-delimiter=U+001F" in s.command and "--multiline-fields=true" in s.command
    assert f"--nodes=Drug={(out / 'drugs.csv').resolve()}" in s.command


def test_cli_load_query_and_graph_status(graph_server, graph_settings, tmp_path, monkeypatch):
    from ddikg.cli import app

    g = graph_settings.graph
    monkeypatch.setenv("DDIKG_HOME", str(graph_settings.home))
    monkeypatch.setenv("DDIKG_GRAPH__PORT", str(g.port))
    monkeypatch.setenv("DDIKG_GRAPH__GRAPH", g.graph)
    path = write_lines(tmp_path / "t.jsonl", [triple("阿司匹林", "拮抗", "华法林"), triple("a", "坏", "b")])
    runner = CliRunner()
    res = runner.invoke(app, ["load", str(path), "--run-id", "cli1"])
    assert res.exit_code == 1 and "t.jsonl:2: predicate" in "".join(res.output.split("\n"))
    res = runner.invoke(app, ["load", str(path), "--run-id", "cli1", "--on-error", "skip"])
    assert res.exit_code == 0, res.output
    assert "added 1, updated 0, removed 0, unchanged 0" in res.output
    res = runner.invoke(app, ["query", "interactions", "--param", "drug=华法林", "--json"])
    assert res.exit_code == 0, res.output
    (row,) = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    assert (row["type"], row["other"], row["direction"]) == ("ANTAGONISM", "阿司匹林", "in")
    res = runner.invoke(app, ["query", "interactions", "--param", "drug=华法林"])
    assert res.exit_code == 0 and "阿司匹林" in res.stdout and "ANTAGONISM" in res.stdout
    res = runner.invoke(app, ["query", "evidence", "--param", "subject=阿司匹林"])
    assert res.exit_code == 1 and "missing object" in " ".join(res.output.split())
    res = runner.invoke(app, ["graph", "status"])
    assert res.exit_code == 0 and '"running": true' in res.stdout
    res = runner.invoke(app, ["graph", "start"])  # already running: no second server
    assert res.exit_code == 0 and str(graph_server.status()["pid"]) in res.stdout
