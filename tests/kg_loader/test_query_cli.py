"""``ddikg query`` and ``ddikg load`` at the command line: typed parameters, no rows, whole values when
piped, errors on one line, and nothing written before both input files are checked."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ddikg.cli import app
from ddikg.kg_loader.queries import coerce_params, get_query, named_queries

from .conftest import triple, write_lines

runner = CliRunner()
LONG = "复方甘草酸苷注射液与维生素C注射液配伍使用的某种极长名称药物制剂"  # wider than any terminal column


@pytest.fixture
def cli_env(graph_settings, monkeypatch):
    g = graph_settings.graph
    monkeypatch.setenv("DDIKG_HOME", str(graph_settings.home))
    monkeypatch.setenv("DDIKG_GRAPH__PORT", str(g.port))
    monkeypatch.setenv("DDIKG_GRAPH__GRAPH", g.graph)
    return graph_settings


def _load(tmp_path, rows):
    res = runner.invoke(app, ["load", str(write_lines(tmp_path / "t.jsonl", rows)), "--run-id", "q1"])
    assert res.exit_code == 0, res.output


def test_params_are_strings_unless_the_query_declares_an_int():
    assert coerce_params(get_query("interactions"), {"drug": "123"}) == {"drug": "123"}
    assert coerce_params(get_query("most_interacting"), {"limit": "5"}) == {"limit": 5}
    with pytest.raises(ValueError, match="limit must be an integer, not 'abc'"):
        coerce_params(get_query("most_interacting"), {"limit": "abc"})
    with pytest.raises(ValueError, match="drug must be a string"):
        coerce_params(get_query("interactions"), {"drug": 123})
    assert all(q.example for q in named_queries().values() if q.params)


def test_a_drug_named_123_no_rows_and_whole_values_when_piped(cli_env, tmp_path):
    _load(tmp_path, [triple("123", "拮抗", "华法林"), triple(LONG, "禁忌", "华法林")])
    res = runner.invoke(app, ["query", "interactions", "--param", "drug=123", "--json"])
    assert res.exit_code == 0, res.output
    (row,) = [json.loads(x) for x in res.stdout.splitlines()]
    assert row["other"] == "华法林"
    res = runner.invoke(app, ["query", "interactions", "--param-json", 'drug="123"', "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["other"] == "华法林", res.output

    res = runner.invoke(app, ["query", "interactions", "--param", "drug=没有这个药"])
    assert res.exit_code == 0, res.output
    assert res.stdout == "" and "interactions: no rows" in res.output

    # CliRunner's stdout is no terminal: tab-separated lines, every value whole
    res = runner.invoke(app, ["query", "interactions", "--param", "drug=华法林"])
    assert res.exit_code == 0, res.output
    header, *lines = res.stdout.splitlines()
    assert header.split("\t")[:4] == ["type", "label", "direction", "other"]
    assert sorted(ln.split("\t")[3] for ln in lines) == sorted(["123", LONG])


def test_query_errors_are_one_line(cli_env):
    res = runner.invoke(app, ["query", "most_interacting", "--param", "limit=abc"])
    assert res.exit_code == 1 and res.exception is None or isinstance(res.exception, SystemExit)
    assert res.output.startswith("error: query 'most_interacting': limit must be an integer, not 'abc'"), res.output
    res = runner.invoke(app, ["query", "interactions", "--param-json", "drug={bad"])
    assert res.exit_code == 1 and "error: --param-json drug: not JSON" in res.output
    res = runner.invoke(app, ["query", "most_interacting", "--param-json", "limit=true"])
    assert res.exit_code == 1 and "limit must be an integer, not True" in res.output
    res = runner.invoke(app, ["query", "most_interacting", "--param-json", "limit=5"])  # a graph not made yet
    assert res.exit_code == 0 and "most_interacting: no rows" in res.output, res.output


def test_load_raw_writes_nothing_when_the_triples_file_is_bad(cli_env, tmp_path):
    from ddikg.kg_loader.api import open_graph
    from ddikg.labels import INTERACTION_SECTION

    raw = write_lines(tmp_path / "raw.jsonl", [{"drug_id": "1", "name": "阿司匹林", "url": "https://e.org/1",
                                                "sections": {INTERACTION_SECTION: "与华法林合用。"}}])
    bad = write_lines(tmp_path / "t.jsonl", [triple("阿司匹林", "拮抗", "华法林"), triple("a", "坏", "b")])
    res = runner.invoke(app, ["load", str(bad), "--raw", str(raw)])
    assert res.exit_code == 1 and f"{bad}:2: predicate" in res.output.replace("\n", ""), res.output
    import redis

    with open_graph(cli_env) as g:
        try:
            nodes = g.run("MATCH (n) RETURN count(n) AS n", read_only=True)[0]["n"]
        except redis.ResponseError as exc:  # FalkorDB: the graph was never created
            assert "empty key" in str(exc)
            nodes = 0
    assert nodes == 0
    # with a good triples file the same command loads both
    good = write_lines(tmp_path / "good.jsonl", [triple("阿司匹林", "拮抗", "华法林")])
    res = runner.invoke(app, ["load", str(good), "--raw", str(raw)])
    assert res.exit_code == 0 and "nodes: 1 drugs" in res.output, res.output


def test_a_neo4j_that_refuses_the_password_is_one_line(tmp_path, monkeypatch):
    """A Bolt endpoint (FalkorDB's, in a server of this test) given a wrong password: the driver's
    error ends the command on one line (real Neo4j raises AuthError there; FalkorDB a DatabaseError)."""
    pytest.importorskip("neo4j")
    from ddikg.config import load_settings
    from ddikg.kg_loader.server import EmbeddedGraphServer

    from .conftest import free_port

    bolt_port = free_port(below=32768)  # FalkorDB ignores a BOLT_PORT above the signed 16-bit range
    server = EmbeddedGraphServer(load_settings(home=tmp_path / "bolt", graph={"port": free_port()}),
                                 module_args={"BOLT_PORT": bolt_port}, persist=False)
    server.start()
    try:
        monkeypatch.setenv("DDIKG_HOME", str(tmp_path / "home"))
        monkeypatch.setenv("NEO4J_URI", f"bolt://127.0.0.1:{bolt_port}")
        monkeypatch.setenv("NEO4J_USER", "neo4j")
        monkeypatch.setenv("NEO4J_PASSWORD", "wrong")
        res = runner.invoke(app, ["query", "interactions", "--param", "drug=华法林"])
    finally:
        server.stop(timeout=0.5)
    assert res.exit_code == 1, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and f"Neo4j at bolt://127.0.0.1:{bolt_port}" in errors[0], res.output


def test_browser_page_holds_the_queries_of_queries_cypher():
    """docs/neo4j-browser.md's query blocks are generated from queries.cypher; regenerate with
    ``python -m ddikg.kg_loader.queries docs/neo4j-browser.md``."""
    from ddikg.kg_loader.queries import render_browser_page
    from tests.conftest import REPO

    page = (REPO / "docs" / "neo4j-browser.md").read_text(encoding="utf-8")
    assert render_browser_page(page) == page
    assert "r.evidence_sources AS sources" in page and "r.source_drugs" not in page
    for q in named_queries().values():
        assert f"## `{q.name}`" in page and q.cypher in page
