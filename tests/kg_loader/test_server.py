"""The embedded server: loopback only, password required and kept 0600, idempotent start, restarts with its data."""

from __future__ import annotations

import stat

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ddikg.kg_loader.api import load_triples, run_query
from ddikg.kg_loader.server import EmbeddedGraphServer, server_password

from .conftest import triple, write_lines


def test_password_file_and_access(graph_server):
    s = graph_server.settings
    pw_file = s.graph_dir / "password"
    assert stat.S_IMODE(pw_file.stat().st_mode) == 0o600
    assert server_password(s) == pw_file.read_text().strip() and len(server_password(s)) >= 24
    anon = redis.Redis(host="127.0.0.1", port=s.graph.port, socket_timeout=2, retry=Retry(NoBackoff(), 0))
    with pytest.raises(redis.AuthenticationError):
        anon.ping()
    with graph_server._client() as c:
        assert c.config_get("bind")["bind"] == "127.0.0.1"
        assert c.config_get("appendonly")["appendonly"] == "no" and c.config_get("save")["save"]
        assert c.config_get("dir")["dir"] == str(s.graph_dir.resolve())


def test_start_is_idempotent_and_status(graph_server):
    pid = graph_server.status()["pid"]
    again = EmbeddedGraphServer(graph_server.settings).start()
    assert again["running"] and again["pid"] == pid
    assert (graph_server.settings.graph_dir / "falkordb.log").exists()


def test_restart_keeps_the_data(graph_server, graph_settings, tmp_path):
    # Big enough that the load is many batches in one MULTI/EXEC (the case an AOF replay cannot survive).
    many = [triple(f"药{i}", "协同", f"靶{i % 50}") for i in range(1500)]
    s = graph_settings.model_copy(update={"graph": graph_settings.graph.model_copy(update={"batch_size": 100})})
    load_triples(s, write_lines(tmp_path / "m.jsonl", many), run_id="r0")
    load_triples(graph_settings, write_lines(tmp_path / "t.jsonl", [triple("阿司匹林", "拮抗", "华法林")]), run_id="r1")
    old_pid = graph_server.status()["pid"]
    rdb = graph_server.settings.graph_dir / "graph.rdb"
    assert rdb.exists() and rdb.stat().st_size > 0  # the load saved a snapshot before returning
    assert graph_server.stop() is True
    assert graph_server.status()["running"] is False
    assert graph_server.stop() is False  # stopping a stopped server is not an error
    graph_server.start()
    assert graph_server.status()["pid"] != old_pid
    rows = run_query(graph_settings, "interactions", {"drug": "华法林"})
    assert [(r["type"], r["other"]) for r in rows] == [("ANTAGONISM", "阿司匹林")]
    assert run_query(graph_settings, "most_interacting", {"limit": 1000})[-1]["interactions"] == 1
    assert sum(r["interactions"] for r in run_query(graph_settings, "most_interacting", {"limit": 5000})) == 2 * 1501


def test_unreachable_or_wrong_password_is_a_clear_error(graph_server, graph_settings, tmp_path):
    from ddikg.config import load_settings
    from ddikg.kg_loader.backends import GraphUnavailable

    from .conftest import free_port

    down = load_settings(home=tmp_path, graph={"port": free_port(), "password": "x"})
    with pytest.raises(GraphUnavailable, match="ddikg graph start"):
        run_query(down, "interactions", {"drug": "华法林"})
    wrong = load_settings(home=graph_settings.home, graph={"port": graph_settings.graph.port, "password": "wrong"})
    with pytest.raises(GraphUnavailable, match="refused the password"):
        run_query(wrong, "interactions", {"drug": "华法林"})
