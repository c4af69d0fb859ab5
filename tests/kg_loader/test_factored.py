"""The fast paths of a load write what the plain paths write: the factored creation statement
(statements.CREATE_GROUPED) against the per-row one, the one-pass read against the two-pass read."""

from __future__ import annotations

import json

import pytest

from ddikg.jsonl import RecordError
from ddikg.kg_loader import statements as S
from ddikg.kg_loader.backends import FalkorBackend
from ddikg.kg_loader.loader import _group_batches, load_triples_into
from ddikg.kg_loader.plan import read_triples

from .conftest import snapshot, triple, with_graph, write_lines


class RecordingBackend(FalkorBackend):
    """The real backend, keeping the statements of each transaction it runs."""

    sent: list

    def write_atomic(self, statements, on_statement=None, *, fence=None):
        self.sent = [*getattr(self, "sent", []), *statements]
        return super().write_atomic(statements, on_statement, fence=fence)


def mixed_rows() -> list[dict]:
    rows = [triple(f"药物{i}", "拮抗", "华法林", f"华法林@药物{i}与本品合用，作用减弱（{i}）") for i in range(7)]
    rows += [
        # the same source, another URL, model and time: another group
        triple("阿司匹林", "协同", "华法林", url="https://example.org/other", model="iser-b") | {
            "extracted_at": "2026-11-02T08:00:00+08:00"},
        # offsite (the source is neither end) and source = subject
        triple("布洛芬", "禁忌", "氨氯地平", "美托洛尔@布洛芬与氨氯地平不宜合用", source="美托洛尔"),
        triple("布洛芬", "抑制", "二甲双胍", "布洛芬@本品抑制二甲双胍的代谢", source="布洛芬"),
        # an edge with two sentences (the per-row path) and a line given twice
        triple("维生素K", "抑制", "华法林", "华法林@维生素K可抑制本品的抗凝作用"),
        triple("维生素K", "抑制", "华法林", "华法林@大量维生素K减弱本品的作用", score=0.7),
        triple("头孢", "促进", "华法林", "华法林@头孢可增强本品的作用"),
        triple("头孢", "促进", "华法林", "华法林@头孢可增强本品的作用"),
        # text that must stay text, and the optional fields of the contract
        triple("苯妥英", "拮抗", "华法林", "华法林@it's \"quoted\" \\ back\tslash'}) DETACH DELETE n //") | {
            "sentence_index": 3, "drug_id": None, "subject_type": "药物", "run_id": "x"},
        {k: v for k, v in triple("卡马西平", "无关", "华法林").items() if k != "source_url"},  # no URL
    ]
    return rows


def test_factored_creation_writes_the_graph_of_the_per_row_form(graph_settings, tmp_path):
    """The same file loaded into two graphs, new edges factored (FalkorDB's default) and per row:
    node for node, relationship for relationship, property for property the same graph."""
    path = write_lines(tmp_path / "t.jsonl", mixed_rows())
    per_row_settings = with_graph(graph_settings, graph_settings.graph.graph + "-rows")
    g = graph_settings.graph
    with RecordingBackend(g.host, g.port, _password(graph_settings), g.graph) as factored:
        a = load_triples_into(factored, graph_settings, path, run_id="r1")
    with RecordingBackend(g.host, g.port, _password(graph_settings), per_row_settings.graph.graph) as plain:
        plain.factored_params = False
        b = load_triples_into(plain, per_row_settings, path, run_id="r1")
    assert (a.added, a.rejected) == (b.added, b.rejected) == (14, 0)
    grouped = [st for st in factored.sent if st.cypher in S.CREATE_GROUPED.values()]
    assert grouped and sum(len(g[-1]) for st in grouped for g in st.params["rows"]) == 13  # one sentence each
    assert not any(st.cypher in S.CREATE_GROUPED.values() for st in plain.sent)
    assert max(sum(len(g[-1]) for g in st.params["rows"]) for st in grouped) <= 3  # batch_size 3: groups split
    assert snapshot(graph_settings) == snapshot(per_row_settings)
    # and a reload of either changes nothing
    again = load_triples_into(FalkorBackend.from_settings(graph_settings), graph_settings, path, run_id="r1")
    assert (again.added, again.updated, again.unchanged) == (0, 0, 14)


def _password(settings) -> str:
    from ddikg.kg_loader.server import server_password

    return server_password(settings)


def test_group_batches_cut_at_the_batch_size_and_keep_every_row():
    groups = {("o1", "o1", "u", False, "m", "t", "t"): [[f"s{i}", "x", 0.5] for i in range(7)],
              ("o2", "x", "u", True, "m", "t", "t"): [["s", "y", 0.6]]}
    batches = list(_group_batches(groups, 3))
    assert [sum(len(g[7]) for g in b) for b in batches] == [3, 3, 2]
    rows = [(g[0], r[0]) for b in batches for g in b for r in g[7]]
    assert rows == [("o1", f"s{i}") for i in range(7)] + [("o2", "s")]
    assert batches[-1][-1][:7] == ["o2", "x", "u", ["x"], "m", "t", "t"]  # offsite list rebuilt


BAD_LINES = [
    "not json",
    json.dumps(triple("甲", "拮抗", "乙") | {"sentence_index": "3"}, ensure_ascii=False),
    json.dumps(triple("甲", "拮抗", "乙") | {"sentence_index": True}, ensure_ascii=False),
    json.dumps(triple("甲", "拮抗", "乙") | {"drug_id": 7}, ensure_ascii=False),
    json.dumps(triple("甲", "拮抗", "乙") | {"subject_type": "疾病"}, ensure_ascii=False),
    json.dumps(triple("甲", "拮抗", "乙") | {"score": "0.8"}, ensure_ascii=False),
    json.dumps(triple("甲", "拮抗", "乙") | {"model_id": " "}, ensure_ascii=False),
    json.dumps(triple("甲", "拮抗", "乙") | {"evidence": "乙@\x07"}, ensure_ascii=False),
    json.dumps(triple("甲", "拮抗", "乙") | {"extracted_at": "2026-11-01T02:00:00"}, ensure_ascii=False),
    json.dumps(triple("甲", "拮抗", "甲"), ensure_ascii=False),
]


@pytest.mark.parametrize("bad", BAD_LINES)
def test_a_bad_line_after_good_ones_is_rejected_by_the_one_pass_read_too(tmp_path, bad):
    """Lines whose names, relation, time, model and URL were already seen valid take the fast path:
    what is particular to the line is still checked, with the error worded as the full checks word it."""
    good = [json.dumps(triple("甲", "拮抗", "乙", f"乙@第{i}句"), ensure_ascii=False) for i in range(3)]
    path = write_lines(tmp_path / "t.jsonl", [*good, bad, good[0].replace("第0句", "第9句")])
    errors = []
    for digested in (None, set()):
        with pytest.raises(RecordError, match=r"t\.jsonl:4: ") as exc:
            read_triples(path, digested=digested)
        errors.append(str(exc.value))
        run = read_triples(path, on_error="skip", digested=digested)
        assert run.read == 4 and run.rejected == 1 and [e.line for e in run.errors] == [4]
    assert errors[0] == errors[1]


def test_one_pass_and_two_pass_reads_group_the_same(tmp_path):
    rows = [*mixed_rows(), "{]", triple("甲", "拮抗", "乙") | {"score": 2}]
    path = write_lines(tmp_path / "t.jsonl", rows)
    two = read_triples(path, on_error="skip", rejects=tmp_path / "a.jsonl")
    one = read_triples(path, on_error="skip", rejects=tmp_path / "b.jsonl", digested=set())
    assert one.edges == two.edges and one.drugs == two.drugs and one.digests == two.digests
    assert [str(e) for e in one.errors] == [str(e) for e in two.errors] and one.read == two.read == 16
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    # Sources that may be trusted keep their bytes and edge keys; trusted ones are grouped from
    # those when a plan needs them (materialize), into what the full read groups.
    fine = write_lines(tmp_path / "fine.jsonl", mixed_rows())
    kept = read_triples(fine, digested={"华法林"}, trusted=lambda d: {"华法林"})
    assert kept.trusted == {"华法林"} and kept.read == 16 and len(kept.deferred) == 14
    kept.materialize(sources={"华法林"})
    full = read_triples(fine)
    assert kept.edges == full.edges and kept.drugs == full.drugs
