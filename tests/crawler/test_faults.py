"""Crawl faults with the real Scrapy engine against the fixture site: nothing recoverable lost, nothing hangs.

Cut-off listing pages, 429/503 with and without ``Retry-After``, an unreachable site, a crawl killed with
SIGKILL and rerun, and a second request that must not resume the first one's queue.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from email.utils import formatdate
from pathlib import Path

import pytest

from ddikg.contracts import RawDrugRecord
from ddikg.crawler.api import NothingCrawled, PagesLost, run_crawl
from ddikg.crawler.fixture_site.content import categories
from ddikg.crawler.fixture_site.server import FixtureSite
from ddikg.crawler.middlewares import backoff_seconds, retry_after_seconds
from ddikg.jsonl import JsonlReader, read_jsonl
from tests.crawler.conftest import crawl_settings, expected_sections

REPO = Path(__file__).resolve().parents[2]
LISTING = "/drugref/drugCateLast.do"


def _records(path) -> dict[str, RawDrugRecord]:
    return {r.drug_id: r for r in read_jsonl(path, RawDrugRecord)}


def _paginated(content, site) -> tuple[str, list]:
    """A category with at least two listing pages, and its drugs."""
    for code, (_, drugs) in categories(content).items():
        if len(drugs) > site.page_size:
            return code, drugs
    raise AssertionError("no category spans two listing pages")


def _answers(site, path: str) -> list:
    return [r for r in site.requests if r.path == path]


# --------------------------------------------------------------------------- cut-off listing pages


def test_a_cut_off_listing_page_is_retried_and_loses_no_drug(site, content, crawl_env):
    settings, out = crawl_env
    code, _ = _paginated(content, site)
    first, second = f"{LISTING}?treeCode={code}", f"{LISTING}?treeCode={code}&page=2"
    site.faults.truncate_next = {first: 1, second: 2}  # cut off once / twice, then whole
    summary = run_crawl(settings, out, base_url=site.base_url)
    assert summary.finished and summary.errors == {}
    assert set(_records(out)) == {d.drug_id for d in content}
    listing_hits = [r for r in _answers(site, LISTING) if r.query in (f"treeCode={code}", f"treeCode={code}&page=2")]
    assert len(listing_hits) == 2 + 3
    assert summary.pages_retried == 3 and summary.pages_fetched == len(site.requests)


def test_a_listing_cut_off_on_every_try_is_reported_and_fails_the_crawl(site, content, crawl_env):
    settings, out = crawl_env
    code, drugs = _paginated(content, site)
    site.faults.truncate = [f"{LISTING}?treeCode={code}"]  # the first page, always cut after one drug
    with pytest.raises(PagesLost, match=r"1 pages lost after retries \(truncated_listing 1\)") as lost:
        run_crawl(settings, out, base_url=site.base_url)
    summary = lost.value.summary
    assert summary.finished and summary.errors == {"truncated_listing": 1}
    rejects = [r for r in read_jsonl_dicts(summary.rejects)]
    assert [(r["reason"], r["url"].endswith(f"treeCode={code}")) for r in rejects] == [("truncated_listing", True)]
    assert "(3 attempts)" in rejects[0]["detail"]  # retry_times=2
    # The drugs of that page that no other listing links are the ones lost, and the crawl says so.
    assert len(_records(out)) < len(content)


def test_a_cut_off_category_index_is_retried_then_the_seeds_are_requested(site, content, crawl_env):
    settings, out = crawl_env
    site.faults.truncate = ["/drugref/drugCateIndex.do"]  # one category link left, always
    summary = run_crawl(settings, out, base_url=site.base_url)
    assert summary.finished and summary.errors == {"truncated_index": 1} and summary.lost == {}
    assert site.fetched("/drugref/drugCateIndex.do") == 3  # retry_times=2
    assert set(_records(out)) == {d.drug_id for d in content}  # no seed skipped


# --------------------------------------------------------------------------- 429 / 503 back-off


def test_retry_after_parses_seconds_and_http_dates():
    assert retry_after_seconds(b"7") == 7.0
    now = 1_700_000_000.0
    assert retry_after_seconds(formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30.0)
    assert retry_after_seconds(formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert retry_after_seconds(b"soon") is None and retry_after_seconds(None) is None


def test_exponential_backoff_doubles_with_jitter_and_is_capped():
    import random

    rng = random.Random(0)
    for retry, full in ((1, 2.0), (2, 4.0), (3, 8.0), (6, 10.0)):  # base 2 s, cap 10 s
        waits = [backoff_seconds(retry, 2.0, 10.0, rng) for _ in range(200)]
        assert full / 2 <= min(waits) and max(waits) <= full
        assert max(waits) - min(waits) > full / 4  # jittered, not one fixed pace


def test_429_and_503_back_off_honouring_retry_after(site, content, crawl_env):
    settings, out = crawl_env
    settings.crawl.backoff_base, settings.crawl.backoff_max = 0.6, 5.0
    seconds, dated, plain = (d.drug_id for d in content[:3])
    p_seconds, p_dated, p_plain = (site.drug_path(i) for i in (seconds, dated, plain))
    site.faults.status = {p_seconds: [429], p_dated: [503], p_plain: [503, 503]}
    site.faults.retry_after = {p_seconds: "1", p_dated: "date+3"}  # an HTTP date 3 s after the answer
    summary = run_crawl(settings, out, base_url=site.base_url, drug_ids=[seconds, dated, plain])
    assert summary.finished and summary.errors == {} and set(_records(out)) == {seconds, dated, plain}
    assert summary.pages_retried == 4 and summary.pages_fetched == len(site.requests)

    def gaps(path):
        hits = _answers(site, path)
        return [b.at - a.at for a, b in zip(hits, hits[1:], strict=False)]

    assert gaps(p_seconds)[0] >= 1.0  # Retry-After: 1
    assert gaps(p_dated)[0] >= 2.0  # the HTTP date (whole seconds) 3 s ahead
    first, second = gaps(p_plain)  # exponential: 0.3-0.6 s, then 0.6-1.2 s
    assert 0.3 <= first and 0.6 <= second


def test_retry_after_beyond_the_limit_stops_resumably(site, content, crawl_env):
    settings, out = crawl_env
    settings.crawl.retry_after_max = 5.0
    ids = [d.drug_id for d in content[:3]]
    site.faults.status = {site.drug_path(ids[1]): [503]}
    site.faults.retry_after = {site.drug_path(ids[1]): "3600"}
    first = run_crawl(settings, out, base_url=site.base_url, drug_ids=ids)
    assert first.stopped_reason == "rate_limited" and "Retry-After 3600s" in first.stopped_detail
    second = run_crawl(settings, out, base_url=site.base_url, drug_ids=ids)
    assert second.resumed and second.finished and sorted(_records(out)) == sorted(ids)


# --------------------------------------------------------------------------- nothing crawled


def _dead_url() -> str:
    with socket.socket() as s:  # a port nobody listens on: every connection is refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_an_unreachable_site_stops_after_a_few_attempts_and_fails(site, content, crawl_env):
    settings, out = crawl_env
    settings.crawl.unreachable_after = 3
    with pytest.raises(NothingCrawled, match="site unreachable") as failed:
        run_crawl(settings, out, base_url=_dead_url())
    summary = failed.value.summary
    assert summary.stopped_reason == "site_unreachable" and summary.drugs == 0 and not summary.finished
    assert summary.stopped_detail.startswith("3 attempts in a row failed")
    assert summary.retries <= 3 and summary.errors == {}  # stopped, not 17 pages each retried
    assert read_jsonl(out, RawDrugRecord) == []


def test_a_crawl_that_gets_no_drug_fails(site, content, crawl_env):
    settings, out = crawl_env
    with pytest.raises(NothingCrawled, match=r"nothing crawled: 0 drugs .*http_404 2"):
        run_crawl(settings, out, base_url=site.base_url, drug_ids=["no-such-1", "no-such-2"])


# --------------------------------------------------------------------------- SIGKILL mid-crawl


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DDIKG_", "NEO4J_", "SCRAPY_"))}
    return env | {"DDIKG_HOME": str(home), "DDIKG_CRAWL__DOWNLOAD_DELAY": "0", "DDIKG_CRAWL__AUTOTHROTTLE": "false",
                  "DDIKG_CRAWL__FSYNC_EVERY": "1", "COLUMNS": "120", "PYTHONPATH": str(REPO)} | extra


def test_sigkill_mid_crawl_then_rerun_loses_nothing_and_refetches_no_parsed_page(content, tmp_path):
    with FixtureSite(page_size=2) as site:
        profile = site.write_profile(tmp_path / "profile.toml")
        out, home = tmp_path / "raw.jsonl", tmp_path / "home"
        site.faults.slow = {site.drug_path(d.drug_id): 0.1 for d in content}  # slow enough to kill mid-way
        cmd = [sys.executable, "-m", "ddikg.cli", "crawl", "--base-url", site.base_url, "--profile", str(profile),
               "--out", str(out), "--no-progress"]
        proc = subprocess.Popen(cmd, env=_env(home), cwd=tmp_path, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and _lines(out) < 8 and proc.poll() is None:
                time.sleep(0.05)
            assert proc.poll() is None, "the crawl ended before it could be killed"
            os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its Scrapy subprocess, no chance to clean up
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        assert proc.returncode == -signal.SIGKILL
        time.sleep(0.3)  # let the server log answers that were on the wire
        kept = {r.drug_id for r in read_jsonl(out, RawDrugRecord)}  # appended records survive the kill
        assert len(kept) >= 8
        fetched_before = [r.path for r in site.requests]
        listings_before = {r.query for r in site.requests if r.path == LISTING and r.status == 200}
        with out.open("ab") as fh:  # as a kill inside a write would leave it
            fh.write(b'{"drug_id": "99999", "name": "\xe5\xb8')

        site.reset_log()
        settings = crawl_settings(home, profile)
        summary = run_crawl(settings, out, base_url=site.base_url)

    assert summary.resumed and summary.finished and summary.pages_replayed > 0
    records = _records(out)
    assert set(records) == {d.drug_id for d in content}  # nothing lost
    by_id = {d.drug_id: d for d in content}
    assert all(records[k].sections == expected_sections(by_id[k]) for k in records)
    assert all(r.categories for r in records.values())  # the replayed listings still label every drug
    refetched = [r.path for r in site.requests if r.path in {site.drug_path(k) for k in kept}]
    assert refetched == []  # no page parsed before the kill was fetched again
    again = {r.query for r in site.requests if r.path == LISTING}
    assert len(again & listings_before) <= 1  # at most the one in flight at the kill
    drug_fetches = [p for p in fetched_before + [r.path for r in site.requests] if p.startswith("/drugref/html/")]
    assert len(drug_fetches) <= len(content) + 1  # every drug page once, but the one in flight
    assert summary.errors == {"torn_record": 1}  # the torn line was set aside, with the reason
    (torn,) = read_jsonl_dicts(summary.rejects)
    assert "unfinished last line" in torn["detail"] and torn["url"] == out.as_uri()


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_a_reader_sets_a_torn_last_line_aside(tmp_path):
    rec = RawDrugRecord(drug_id="1", name="甲", url="http://x/1", sections={"成份": "甲"})
    path = tmp_path / "raw.jsonl"
    path.write_bytes((rec.to_json() + "\n").encode() + b'{"drug_id": "2", "na')
    reader = JsonlReader(path, RawDrugRecord, rejects=tmp_path / "rejects.jsonl")  # on_error="raise"
    assert [r.drug_id for r in reader] == ["1"]
    assert reader.n_torn == 1 and reader.n_bad == 1
    (row,) = read_jsonl_dicts(tmp_path / "rejects.jsonl")
    assert row["line"] == 2 and row["field"] == "<torn>" and "no newline at the end" in row["error"]
    # A bad line that is not the torn last one still stops a strict reader.
    path.write_bytes(b'{"drug_id": "2", "na\n' + (rec.to_json() + "\n").encode())
    with pytest.raises(ValueError, match=r"raw\.jsonl:1:"):
        list(JsonlReader(path, RawDrugRecord))


# --------------------------------------------------------------------------- job state keyed by the request


def test_another_base_url_never_resumes_the_first_ones_queue(content, tmp_path, monkeypatch):
    for var in [v for v in os.environ if v.startswith("DDIKG_")]:
        monkeypatch.delenv(var, raising=False)
    ids = [d.drug_id for d in content[:6]]
    with FixtureSite() as a, FixtureSite() as b:
        settings = crawl_settings(tmp_path / "home", a.write_profile(tmp_path / "profile.toml"), max_pages=3)
        first = run_crawl(settings, tmp_path / "a.jsonl", base_url=a.base_url, drug_ids=ids)
        assert first.stopped_reason == "closespider_pagecount"
        a.reset_log()
        settings.crawl.max_pages = 0
        other = run_crawl(settings, tmp_path / "b.jsonl", base_url=b.base_url, drug_ids=ids)
        assert not other.resumed and other.finished and other.job_key != first.job_key
        assert a.requests == []  # nothing of A's queue was fetched for B's crawl
        assert sorted(_records(tmp_path / "b.jsonl")) == sorted(ids)
        back = run_crawl(settings, tmp_path / "a.jsonl", base_url=a.base_url, drug_ids=ids)
        assert back.resumed and back.finished and back.run_id == first.run_id and back.job_key == first.job_key
        assert sorted(_records(tmp_path / "a.jsonl")) == sorted(ids)
        assert (tmp_path / "home" / "crawl" / "jobs" / first.job_key).is_dir()


def read_jsonl_dicts(path) -> list[dict]:
    import json

    assert path is not None and Path(path).is_file()
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
