from __future__ import annotations

from pathlib import Path

import pytest

from ddikg import labels
from ddikg.config import load_settings


def test_defaults_use_embedded_graph(ddikg_home):
    s = load_settings()
    assert s.home == ddikg_home
    assert not s.graph.uses_neo4j
    assert s.model_dir == ddikg_home / "models" / "current"
    assert s.raw_dir == ddikg_home / "raw"


def test_file_then_env_then_overrides(ddikg_home, monkeypatch, tmp_path):
    cfg = tmp_path / "ddikg.toml"
    cfg.write_text('[crawl]\ndownload_delay = 5.0\ncontact = "kg@hospital.example"\n'
                   '[graph]\nport = 7000\n[model]\nencoder = "/models/x"\n', encoding="utf-8")
    s = load_settings()  # ./ddikg.toml is picked up
    assert (s.crawl.download_delay, s.graph.port, s.model.encoder) == (5.0, 7000, "/models/x")
    monkeypatch.setenv("DDIKG_CRAWL__DOWNLOAD_DELAY", "7.5")
    monkeypatch.setenv("NEO4J_URI", "neo4j://db.example:7687")
    monkeypatch.setenv("NEO4J_PASSWORD", "s3cret")
    s = load_settings(home=Path("/elsewhere"))
    assert s.crawl.download_delay == 7.5 and s.crawl.contact == "kg@hospital.example"
    assert s.graph.uses_neo4j and s.graph.neo4j_uri == "neo4j://db.example:7687"
    assert s.graph.neo4j_password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(s)
    assert s.home == Path("/elsewhere")


def test_missing_config_file_is_an_error(ddikg_home, monkeypatch):
    monkeypatch.setenv("DDIKG_CONFIG", "/nope/ddikg.toml")
    with pytest.raises(FileNotFoundError, match="/nope/ddikg.toml"):
        load_settings()


def test_label_set():
    assert labels.RELATION_LABELS == ("拮抗", "抑制", "协同", "禁忌", "无关", "促进", "相加")
    assert labels.relation("taboo").graph == "CONTRAINDICATION"
    assert labels.relation("SYNERGY").zh == "协同"
    assert len({r.graph for r in labels.RELATION_TYPES}) == 7
    with pytest.raises(KeyError, match="拮抗"):
        labels.relation("DETACH DELETE")
