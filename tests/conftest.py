"""Shared fixtures: where ../shared is, and a per-test ddikg home."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DDIKG_SHARED", REPO.parent / "shared"))


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the test with the reason when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"needs {p} (../shared is not beside this checkout; set DDIKG_SHARED)")
    return p


@pytest.fixture
def ddikg_home(tmp_path, monkeypatch) -> Path:
    """An empty data directory, with no config file or Neo4j variables leaking in from the caller."""
    home = tmp_path / "home"
    monkeypatch.setenv("DDIKG_HOME", str(home))
    for var in ("DDIKG_CONFIG", "NEO4J_URI", "NEO4J_USER", "NEO4J_PASSWORD", "NEO4J_DATABASE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    return home
