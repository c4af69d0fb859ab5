"""Shared pieces of the crawler tests: the fixture content, a running fixture site, fast crawl settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ddikg.config import Settings, load_settings
from ddikg.crawler.fixture_site.content import FixtureDrug, load_content
from ddikg.crawler.fixture_site.server import FixtureSite
from ddikg.crawler.parsing import normalise_text


@pytest.fixture(scope="session")
def content() -> list[FixtureDrug]:
    return load_content()


def expected_sections(drug: FixtureDrug) -> dict[str, str]:
    """What the crawler must extract for a fixture drug: its sections, whitespace-normalised."""
    return {title.rstrip(":："): normalise_text(text) for title, text in drug.sections.items()
            if normalise_text(text)}


@pytest.fixture
def site():
    with FixtureSite(page_size=2) as s:  # small pages so that every category paginates
        yield s


def crawl_settings(home: Path, profile: Path, **crawl) -> Settings:
    """Fast, test-only overrides: no delay, no AutoThrottle, short back-off (never the defaults)."""
    base = {"download_delay": 0.0, "autothrottle": False, "rate_limit_backoff": 0.05,
            "rate_limit_retries": 1, "retry_times": 2, "download_timeout": 10.0, "backoff_base": 0.05,
            "backoff_max": 0.5, "unreachable_after": 4, "profile": profile}
    return load_settings(home=home, crawl=base | crawl)


@pytest.fixture
def crawl_env(tmp_path, site, monkeypatch):
    """(settings, out path) for a crawl of ``site`` in an isolated home."""
    for var in [v for v in os.environ if v.startswith("DDIKG_")]:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    profile = site.write_profile(tmp_path / "profile.toml")
    return crawl_settings(tmp_path / "home", profile), tmp_path / "raw.jsonl"
