"""``ddikg crawl`` and ``scrapy crawl yimaitong`` as a user runs them (real processes, real HTTP)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from ddikg.contracts import RawDrugRecord
from ddikg.jsonl import read_jsonl

from ..terminal import run_on_terminal

REPO = Path(__file__).resolve().parents[2]


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DDIKG_", "NEO4J_", "SCRAPY_"))}
    # Test-only speed settings through the documented environment overrides.
    return env | {"DDIKG_HOME": str(home), "DDIKG_CRAWL__DOWNLOAD_DELAY": "0", "DDIKG_CRAWL__AUTOTHROTTLE": "false",
                  "COLUMNS": "120", "PYTHONPATH": str(REPO)}


def test_ddikg_crawl_shows_progress_and_summary(site, content, tmp_path):
    profile = site.write_profile(tmp_path / "profile.toml")
    site.faults.truncate = [site.drug_path(content[1].drug_id)]
    out = tmp_path / "raw.jsonl"
    cmd = [sys.executable, "-m", "ddikg.cli", "crawl", "--base-url", site.base_url, "--profile", str(profile),
           "--out", str(out), "--contact", "data-team@example.org"]
    rc, stdout, terminal = run_on_terminal(cmd, env=_env(tmp_path / "home"), cwd=tmp_path, timeout=120)
    text = stdout + terminal
    # The page cut off on every try is lost: the crawl says so with the counts and exits 3.
    assert rc == 3, text
    assert "1 pages lost after retries (truncated_html 1)" in text
    # the progress line: pages fetched of the pages known so far, with the rate and the time remaining
    assert re.search(r"crawl .*\b(\d+)/\1 pages .*eta .*\d+ drugs · \d+ errors", terminal), terminal[-2000:]
    for label in ("pages fetched", "of which retried", "new", "changed", "unchanged", "error: truncated_html",
                  "stop reason"):
        assert label in text, label
    records = read_jsonl(out, RawDrugRecord)
    assert len(records) == len(content) - 1
    ua = {r.headers.get("User-Agent") for r in site.requests}
    assert ua == {"ddikg-crawler/0.1 (+https://github.com/ddikg/ddikg; drug-interaction research; "
                  "contact: data-team@example.org)"}


def test_ddikg_crawl_reports_configuration_errors(tmp_path):
    cmd = [sys.executable, "-m", "ddikg.cli", "crawl", "--profile", str(tmp_path / "nope.toml")]
    proc = subprocess.run(cmd, env=_env(tmp_path / "home"), cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1
    assert "nope.toml: no such site profile" in proc.stdout + proc.stderr


def test_scrapy_crawl_command_works(site, content, tmp_path):
    profile = site.write_profile(tmp_path / "profile.toml")
    home = tmp_path / "home"
    env = _env(home) | {"SCRAPY_SETTINGS_MODULE": "ddikg.crawler.settings", "DDIKG_CRAWL__PROFILE": str(profile)}
    ids = [d.drug_id for d in content[:3]]
    cmd = [sys.executable, "-m", "scrapy", "crawl", "yimaitong", "-a", f"base_url={site.base_url}",
           "-a", f"drug_ids={','.join(ids)}", "-s", "LOG_LEVEL=WARNING"]
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = read_jsonl(home / "raw" / "drugs.jsonl", RawDrugRecord)  # the configured default output
    assert [r.drug_id for r in records] == ids
    assert (home / "crawl" / "state.sqlite").is_file() and (home / "crawl" / "last_summary.json").is_file()
