"""The online loader against the real embedded server: load, reload, refresh, rejects, injection."""

from __future__ import annotations

import json

import pytest

from ddikg.jsonl import RecordError
from ddikg.kg_loader.api import load_drugs, load_triples, open_graph, run_query

from .conftest import snapshot, triple, write_lines


def edges(settings) -> dict[tuple[str, str, str], dict]:
    with open_graph(settings) as b:
        rows = b.run("MATCH (a:Drug)-[r]->(b:Drug) RETURN a.name AS a, type(r) AS t, b.name AS b, "
                     "properties(r) AS p", read_only=True)
    out: dict = {}
    for r in rows:
        key = (r["a"], r["t"], r["b"])
        assert key not in out, f"duplicate relationship {key}"
        out[key] = dict(r["p"])
    return out


BASE = [
    triple("阿司匹林", "拮抗", "华法林"),
    triple("布洛芬", "禁忌", "华法林"),
    triple("维生素K", "抑制", "华法林", "华法林@维生素K可抑制本品的抗凝作用"),
    triple("美托洛尔", "协同", "氨氯地平"),
    triple("二甲双胍", "无关", "氨氯地平", score=0.6),
]


def test_load_then_reload_changes_nothing(graph_settings, tmp_path):
    path = write_lines(tmp_path / "t.jsonl", BASE)
    first = load_triples(graph_settings, path, run_id="r1")
    assert (first.added, first.updated, first.removed, first.unchanged, first.rejected) == (5, 0, 0, 0, 0)
    assert first.batches >= 4  # batch_size 3: drugs in 3 batches + creations per type
    before = snapshot(graph_settings)
    e = edges(graph_settings)
    assert set(e) == {("阿司匹林", "ANTAGONISM", "华法林"), ("布洛芬", "CONTRAINDICATION", "华法林"),
                      ("维生素K", "INHIBITION", "华法林"), ("美托洛尔", "SYNERGY", "氨氯地平"),
                      ("二甲双胍", "NO_INTERACTION", "氨氯地平")}
    r = e[("维生素K", "INHIBITION", "华法林")]
    assert r["label_zh"] == "抑制" and r["evidence"] == ["华法林@维生素K可抑制本品的抗凝作用"]
    assert r["evidence_sources"] == ["华法林"] and r["evidence_urls"] == ["https://example.org/drug/华法林"]
    assert r["model_id"] == "iser-test" and r["run_id"] == "r1" and r["score"] == pytest.approx(0.9)
    assert r["first_seen"] == r["last_seen"] == "2026-11-01T02:00:00+00:00"

    again = load_triples(graph_settings, path, run_id="r1")
    assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, 5)
    assert snapshot(graph_settings) == before  # same run: byte-for-byte the same graph

    confirm = load_triples(graph_settings, path, run_id="r2")
    assert (confirm.added, confirm.updated, confirm.removed, confirm.unchanged) == (0, 0, 0, 5)
    after = edges(graph_settings)
    assert len(after) == 5 and {p["run_id"] for p in after.values()} == {"r2"}  # confirmed by r2
    with open_graph(graph_settings) as b:
        assert b.run("MATCH (d:Drug) RETURN count(d) AS n")[0]["n"] == 7


def test_refresh_adds_updates_removes_only_in_scope(graph_settings, tmp_path):
    load_triples(graph_settings, write_lines(tmp_path / "base.jsonl", BASE), run_id="r1")
    untouched = {k: v for k, v in edges(graph_settings).items() if k[2] == "氨氯地平"}
    nightly = [
        triple("阿司匹林", "拮抗", "华法林"),  # confirmed, same evidence -> unchanged
        triple("布洛芬", "禁忌", "华法林", "华法林@禁止与布洛芬合用", score=0.95),  # new sentence -> updated
        triple("奥美拉唑", "促进", "华法林"),  # new edge -> added
        # 维生素K -> 华法林 is no longer extracted from 华法林's page -> removed
    ]
    s = load_triples(graph_settings, write_lines(tmp_path / "n.jsonl", nightly), run_id="r2")
    assert (s.added, s.updated, s.removed, s.unchanged) == (1, 1, 1, 1)
    e = edges(graph_settings)
    assert ("维生素K", "INHIBITION", "华法林") not in e
    assert e[("奥美拉唑", "PROMOTION", "华法林")]["run_id"] == "r2"
    bu = e[("布洛芬", "CONTRAINDICATION", "华法林")]
    assert bu["evidence"] == ["华法林@禁止与布洛芬合用"] and bu["score"] == pytest.approx(0.95)
    assert bu["first_seen"] == "2026-11-01T02:00:00+00:00"
    # 氨氯地平's edges come from another source drug: not in this run's scope, not touched.
    assert {k: v for k, v in e.items() if k[2] == "氨氯地平"} == untouched


def test_edge_with_two_sources_keeps_the_other_sources_evidence(graph_settings, tmp_path):
    both = [triple("阿司匹林", "拮抗", "华法林", "华法林@甲"), triple("阿司匹林", "拮抗", "华法林", "阿司匹林@乙", source="阿司匹林")]
    load_triples(graph_settings, write_lines(tmp_path / "a.jsonl", both), run_id="r1")
    (edge,) = edges(graph_settings).values()
    assert edge["evidence_sources"] == ["华法林", "阿司匹林"] and edge["label_zh"] == "拮抗"
    # 华法林's page no longer supports it: its sentence goes, 阿司匹林's keeps the edge alive.
    s = load_triples(graph_settings, write_lines(tmp_path / "b.jsonl", []), run_id="r2", sources=["华法林"])
    assert (s.added, s.updated, s.removed) == (0, 1, 0)
    (edge,) = edges(graph_settings).values()
    assert edge["evidence"] == ["阿司匹林@乙"] and edge["run_id"] == "r1"
    s = load_triples(graph_settings, write_lines(tmp_path / "c.jsonl", []), run_id="r3", sources=["阿司匹林"])
    assert s.removed == 1 and edges(graph_settings) == {}


def test_refresh_finds_edges_whose_source_is_neither_end(graph_settings, tmp_path):
    rows = [triple("甲", "协同", "乙", "丙@甲与乙合用有协同作用", source="丙"), triple("丁", "拮抗", "丙")]
    load_triples(graph_settings, write_lines(tmp_path / "a.jsonl", rows), run_id="r1")
    e = edges(graph_settings)
    assert e[("甲", "SYNERGY", "乙")]["offsite_sources"] == ["丙"] and e[("丁", "ANTAGONISM", "丙")]["offsite_sources"] == []
    s = load_triples(graph_settings, write_lines(tmp_path / "b.jsonl", [rows[1]]), run_id="r2")
    assert (s.removed, s.unchanged) == (1, 1)
    assert set(edges(graph_settings)) == {("丁", "ANTAGONISM", "丙")}


def test_source_outside_the_scope_is_rejected(graph_settings, tmp_path):
    path = write_lines(tmp_path / "t.jsonl", BASE)
    s = load_triples(graph_settings, path, run_id="r1", sources=["华法林"], on_error="skip",
                     rejects=tmp_path / "rej.jsonl")
    assert s.added == 3 and s.rejected == 2
    bad = [json.loads(x) for x in (tmp_path / "rej.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [b["line"] for b in bad] == [4, 5] and {b["field"] for b in bad} == {"source_drug"}


def test_bad_triples_are_written_aside_with_reasons(graph_settings, tmp_path):
    rows = [
        triple("阿司匹林", "拮抗", "华法林"),
        triple("阿司匹林", "相互作用", "华法林"),  # unknown type
        triple("   ", "拮抗", "华法林"),  # empty after normalisation
        triple("药" * 101, "拮抗", "华法林"),  # overlong
        triple("阿司\x00匹林", "拮抗", "华法林"),  # control character
        triple("阿司匹林", "拮抗", "华法\u200b林".replace("\u200b", "\x1f")),  # unit separator
        "{not json",
        {**triple("a", "拮抗", "b"), "score": 7},  # contract violation
    ]
    path = write_lines(tmp_path / "t.jsonl", rows)
    s = load_triples(graph_settings, path, run_id="r1", on_error="skip")
    assert (s.added, s.rejected) == (1, 7)
    rej = [json.loads(x) for x in (tmp_path / "t.rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["line"], r["field"]) for r in rej] == [
        (2, "predicate"), (3, "subject"), (4, "subject"), (5, "subject"), (6, "object"), (7, "<json>"), (8, "score")]
    assert "unknown DDI relation type" in rej[0]["error"] and "empty" in rej[1]["error"]
    assert "101 characters" in rej[2]["error"] and "U+0000" in rej[3]["error"]
    assert all(r["raw"] for r in rej)
    with pytest.raises(RecordError, match=r"t\.jsonl:2: predicate: unknown DDI relation type"):
        load_triples(graph_settings, path, run_id="r2", on_error="raise")
    assert len(edges(graph_settings)) == 1


INJECTIONS = [
    "'}) DETACH DELETE n //",
    '"}) MATCH (n) DETACH DELETE n //',
    "x` ]->() DETACH DELETE n //",
    "\\'}) RETURN 1 //",
    "$rows",
    "a}) WITH 1 AS x MATCH (n) DETACH DELETE n RETURN x //",
]


def test_injection_attempts_are_stored_as_plain_text(graph_settings, tmp_path):
    load_triples(graph_settings, write_lines(tmp_path / "base.jsonl", BASE), run_id="r0")
    rows = [triple(name, "拮抗", "靶药", f"靶药@{name}", url=f"https://e/{name}") for name in INJECTIONS]
    rows.append(triple("甲药", "禁忌", "靶药", "靶药@'}) MATCH (n) DETACH DELETE n //\"，含逗号, \"引号\""))
    s = load_triples(graph_settings, write_lines(tmp_path / "inj.jsonl", rows), run_id="r1")
    assert s.added == len(rows) and s.rejected == 0
    e = edges(graph_settings)
    assert len(e) == len(BASE) + len(rows)  # nothing was deleted
    for name in INJECTIONS:
        assert e[(name, "ANTAGONISM", "靶药")]["evidence"] == [f"靶药@{name}"]
    got = run_query(graph_settings, "interactions", {"drug": INJECTIONS[0]})
    assert [(r["type"], r["other"]) for r in got] == [("ANTAGONISM", "靶药")]
    assert e[("甲药", "CONTRAINDICATION", "靶药")]["evidence"] == ["靶药@'}) MATCH (n) DETACH DELETE n //\"，含逗号, \"引号\""]


def test_drug_and_disease_nodes_from_raw_records(graph_settings, tmp_path):
    from ddikg.contracts import RawDrugRecord

    def rec(i, name, diseases, cats):
        return RawDrugRecord(drug_id=str(i), name=name, url=f"https://example.org/drug/{i}", diseases=diseases,
                             categories=cats, sections={"药物相互作用": "见说明"},
                             fetched_at="2026-11-01T01:00:00+00:00")

    raw = tmp_path / "raw.jsonl"
    write_lines(raw, [json.loads(r.to_json()) for r in [
        rec(1, "硝苯地平", ["高血压", "冠心病"], ["钙通道阻滞剂"]),
        rec(2, "氨氯地平", ["高血压"], ["钙通道阻滞剂"]),
        rec(3, "硝苯地平 ", ["高血压"], []),  # same drug under another id: merged by normalised name
        rec(4, "坏\x07名", ["高血压"], []),
    ]] + ["{\"drug_id\": 5}"])
    s = load_drugs(graph_settings, raw, run_id="r1", on_error="skip")
    assert (s.records, s.drugs, s.diseases, s.indicated_for, s.rejected) == (4, 2, 3, 5, 2)
    rej = [json.loads(x) for x in (tmp_path / "raw.rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["line"], r["field"]) for r in rej][1] == (4, "name") and "U+0007" in rej[1]["error"]
    assert (rej[0]["line"], rej[0]["field"]) == (5, "drug_id")  # the contract reader's own reject
    again = load_drugs(graph_settings, raw, run_id="r1", on_error="skip")
    assert again.drugs == 2
    with open_graph(graph_settings) as b:
        drugs = {r["n"]: r for r in b.run("MATCH (d:Drug) RETURN d.name AS n, d.drug_ids AS ids, d.urls AS urls")}
        kinds = {r["n"]: r["k"] for r in b.run("MATCH (x:Disease) RETURN x.name AS n, x.kind AS k")}
        links = b.run("MATCH (:Drug)-[r:INDICATED_FOR]->(x:Disease) RETURN count(r) AS n")[0]["n"]
    assert drugs["硝苯地平"]["ids"] == ["1", "3"] and len(drugs["硝苯地平"]["urls"]) == 2
    assert kinds == {"高血压": "chronic", "冠心病": "chronic", "钙通道阻滞剂": "category"}
    assert links == 5
    # Interactions among the drugs of one disease.
    load_triples(graph_settings, write_lines(tmp_path / "t.jsonl", [
        triple("硝苯地平", "相加", "氨氯地平"), triple("阿司匹林", "拮抗", "氨氯地平")]), run_id="r1")
    rows = run_query(graph_settings, "disease_interactions", {"disease": "高血压"})
    assert [(r["subject"], r["type"], r["object"]) for r in rows] == [("硝苯地平", "ADDITION", "氨氯地平")]


def test_named_queries(graph_settings, tmp_path):
    load_triples(graph_settings, write_lines(tmp_path / "t.jsonl", BASE + [
        triple("阿司匹林", "协同", "氯吡格雷"), triple("布洛芬", "拮抗", "氯吡格雷"),
        triple("阿司匹林", "拮抗", "华法林", "华法林@第二句", score=0.5)]), run_id="r1")
    got = run_query(graph_settings, "interactions", {"drug": "华法林"})
    assert {(r["type"], r["other"], r["direction"]) for r in got} == {
        ("ANTAGONISM", "阿司匹林", "in"), ("CONTRAINDICATION", "布洛芬", "in"), ("INHIBITION", "维生素K", "in")}
    assert run_query(graph_settings, "contraindicated", {"limit": "10"})[0]["drug"] == "布洛芬"
    both = run_query(graph_settings, "interacting_with_both", {"x": "阿司匹林", "y": "布洛芬"})
    assert {r["drug"] for r in both} == {"华法林", "氯吡格雷"}
    top = run_query(graph_settings, "most_interacting", {"limit": 1})
    assert top == [{"drug": "华法林", "interactions": 3}]
    ev = run_query(graph_settings, "evidence", {"subject": "阿司匹林", "object": "华法林"})
    assert [(r["sentence"], r["score"]) for r in ev] == [("华法林@阿司匹林与华法林合用拮抗", 0.9), ("华法林@第二句", 0.5)]
    assert ev[0]["source_drug"] == "华法林" and ev[0]["run_id"] == "r1"
    with pytest.raises(ValueError, match="missing object"):
        run_query(graph_settings, "evidence", {"subject": "阿司匹林"})
    with pytest.raises(KeyError, match="no query named"):
        run_query(graph_settings, "nope", {})


def test_parameter_encoding_round_trips_through_the_server(graph_settings):
    from ddikg.kg_loader.backends import encode_param

    values = ['a"b', "a\\b", 'a\\"b', "a'b", "line\nbreak", "tab\there", "cr\rx", "x\\", '{"s":1}', ',"s":',
              "\\u0041", "é€😀", "`k`", "'}) DETACH DELETE n //", "bell\x07", "药\\n"]
    fast = [v for v in values if "\\" not in v and "\x07" not in v]
    assert encode_param([{"v": v} for v in fast]).startswith('[{v:"a\\"b"}')  # JSON path, keys unquoted
    assert encode_param([{"v": "x\\b"}]).startswith("[{`v`:")  # would need \\b: the client's encoder
    with open_graph(graph_settings) as b:
        for vs in (fast, values):
            rows = [{"v": v, "l": [v, 1.5, None, True], "n": i} for i, v in enumerate(vs)]
            got = b.run("UNWIND $rows AS r RETURN r.v AS v, r.l AS l, r.n AS n", {"rows": rows})
            assert got == rows
            # Positional rows (how edge rows travel): plain JSON, no key handling.
            lists = [[r["v"], r["l"], r["n"]] for r in rows]
            if vs is fast:
                assert encode_param(lists) == json.dumps(lists, ensure_ascii=False, separators=(",", ":"))
            got = b.run("UNWIND $rows AS r RETURN r[0] AS v, r[1] AS l, r[2] AS n", {"rows": lists})
            assert got == rows
        # Numbers orjson cannot or must not write: NaN would become null, 2**70 overflows 64 bits.
        assert encode_param([[float("nan")]]) != "[[null]]" and encode_param([[None]]) == "[[null]]"
        assert "1180591620717411303424" in encode_param([[2**70]])  # (the server then clamps it to int64)
        nums = [[1e-05, 2**62, -0.0, 123456789.125]]
        assert b.run("UNWIND $rows AS r RETURN r AS v", {"rows": nums}) == [{"v": nums[0]}]
        odd = [{"a-b": "x"}]  # not an identifier key: the client's own encoder takes it
        assert b.run("UNWIND $rows AS r RETURN r AS m", {"rows": odd}) == [{"m": {"a-b": "x"}}]
