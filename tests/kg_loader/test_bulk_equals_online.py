"""The bulk CSVs, read back the way neo4j-admin reads them, give the graph the online loader builds.

neo4j-admin cannot run here, so its reading is re-done in Python from its documented rules: a header
``name:type`` per column (``:ID``/``:START_ID``/``:END_ID``/``:LABEL``/``:TYPE`` special), arrays split
on the array delimiter, and no property at all for an empty field (an empty array included). The
parsed nodes and relationships are created in a graph of the real server, ``post_import.cypher`` is
run there, and the result is compared with an online load of the same files, property by property.
"""

from __future__ import annotations

import csv
import json

from ddikg.contracts import RawDrugRecord
from ddikg.kg_loader.api import load_drugs, load_triples, open_graph
from ddikg.kg_loader.bulk import ARRAY_DELIMITER, export_csv
from ddikg.kg_loader.model import DDI_TYPES, INDICATED_FOR

from .conftest import snapshot, triple, with_graph, write_lines

TRICKY = '华法林@本品与"阿司匹林"合用，可增加出血风险, 应监测 INR；\n另见说明书'


def admin_rows(path) -> list[dict]:
    """One CSV file as neo4j-admin would take it: {"id"/"start"/"end": ..., "labels"/"type": ..., "props": {...}}."""
    with path.open(encoding="utf-8", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    out = []
    for row in rows:
        item: dict = {"props": {}}
        for col, value in zip(header, row, strict=True):
            name, _, kind = col.partition(":")
            if kind.startswith("ID("):
                item["id"] = value
                name, kind = name, "string"  # the ID column is also stored under its name
            elif kind.startswith("START_ID("):
                item["start"] = value
                continue
            elif kind.startswith("END_ID("):
                item["end"] = value
                continue
            elif kind == "LABEL":
                item["labels"] = value.split(";")
                continue
            elif kind == "TYPE":
                item["type"] = value
                continue
            if value == "":  # no property: neo4j-admin skips empty fields, empty arrays included
                continue
            base, arr = kind.removesuffix("[]") or "string", kind.endswith("[]")
            conv = float if base == "double" else str
            assert base in ("string", "double"), col
            item["props"][name] = [conv(x) for x in value.split(ARRAY_DELIMITER)] if arr else conv(value)
        out.append(item)
    return out


def import_like_neo4j_admin(settings, out_dir) -> None:
    from ddikg.kg_loader.bulk import POST_IMPORT

    with open_graph(settings) as b:
        for label, file in (("Drug", "drugs.csv"), ("Disease", "diseases.csv")):
            nodes = admin_rows(out_dir / file)
            assert all(n["labels"] == [label] for n in nodes)
            b.run(f"UNWIND $rows AS r CREATE (n:{label}) SET n = r", {"rows": [n["props"] for n in nodes]})
        ends = {"indicated_for.csv": "Disease", "interactions.csv": "Drug"}
        for file, end_label in ends.items():
            for rel in admin_rows(out_dir / file):
                assert rel["type"] in (*DDI_TYPES, INDICATED_FOR)  # whitelisted: safe in statement text
                b.run(f"MATCH (a:Drug {{name: $s}}), (z:{end_label} {{name: $o}}) "
                      f"CREATE (a)-[e:{rel['type']}]->(z) SET e = $p", {"s": rel["start"], "o": rel["end"], "p": rel["props"]})
        for st in POST_IMPORT:
            b.run(st)


def test_bulk_import_equals_online_load(graph_settings, tmp_path):
    rows = [
        triple("阿司匹林", "拮抗", "华法林", TRICKY, url="https://example.org/a?x=1,2"),
        triple("阿司匹林", "拮抗", "华法林", "华法林@第二句", source="阿司匹林", score=0.5),
        triple('药"引号",逗号', "禁忌", "华法林"),
        triple("ＡＢＣ 片", "相加", "华法林"),  # full-width: an alias
        triple("甲", "协同", "乙", "丙@甲与乙合用", source="丙"),  # offsite source: offsite_sources ["丙"]
        {**triple("丁", "抑制", "华法林", score=0.123456789), "source_url": None},  # evidence_urls [""]
        {**triple("戊", "抑制", "华法林", "华法林@戊一"), "source_url": None},
        {**triple("戊", "抑制", "华法林", "华法林@戊二"), "source_url": None},  # evidence_urls ["", ""]
    ]
    triples = write_lines(tmp_path / "t.jsonl", rows)
    recs = [RawDrugRecord(drug_id="42", name="华法林", url="https://example.org/drug/42", diseases=["冠心病"],
                          categories=["抗凝药, 口服"], sections={"药物相互作用": "x"}, fetched_at="2026-11-01T00:00:00Z"),
            RawDrugRecord(drug_id="43", name="ABC 片", url="https://example.org/drug/43", diseases=["高血压"],
                          sections={"药物相互作用": "y"}, fetched_at="2026-11-01T00:00:00Z")]
    raw = write_lines(tmp_path / "raw.jsonl", [json.loads(r.to_json()) for r in recs])

    load_drugs(graph_settings, raw, run_id="bulk1")
    load_triples(graph_settings, triples, run_id="bulk1")
    online = snapshot(graph_settings)

    s = export_csv(graph_settings, triples, tmp_path / "csv", raw_path=raw, run_id="bulk1")
    assert s.interactions == 6 and "post_import.cypher" in s.post_command
    imported = with_graph(graph_settings, graph_settings.graph.graph + "-bulk")
    import_like_neo4j_admin(imported, tmp_path / "csv")
    assert snapshot(imported) == online
    # The empty arrays really were dropped by the CSV reading, and put back by post_import.cypher.
    drugs = {d["id"]: d["props"] for d in admin_rows(tmp_path / "csv" / "drugs.csv")}
    assert "drug_ids" not in drugs["阿司匹林"] and "aliases" not in drugs["华法林"]
    assert json.dumps({"l": ["Drug"], "p": {"aliases": [], "drug_ids": [], "load_digest": drugs["阿司匹林"]["load_digest"],
                                            "name": "阿司匹林", "urls": []}}, sort_keys=True, ensure_ascii=False) in online["nodes"]
