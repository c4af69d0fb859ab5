"""The real Scrapy engine crawling the fixture site over HTTP (each crawl is a subprocess)."""

from __future__ import annotations

import fcntl
import json

import pytest

from ddikg.contracts import RawDrugRecord
from ddikg.crawler.api import CrawlError, PagesLost, run_crawl
from ddikg.crawler.fixture_site.content import categories
from ddikg.crawler.profile import load_profile
from ddikg.jsonl import read_jsonl
from tests.crawler.conftest import expected_sections


def _records(path) -> dict[str, RawDrugRecord]:
    return {r.drug_id: r for r in read_jsonl(path, RawDrugRecord)}


def test_full_crawl_then_incremental_recrawls(site, content, crawl_env):
    settings, out = crawl_env
    profile = load_profile(settings.crawl.profile)
    summary = run_crawl(settings, out, base_url=site.base_url)
    assert summary.finished and summary.stopped_reason is None and summary.errors == {}
    records = _records(out)
    # Every fixture drug, with the right name, sections, categories and seeded diseases.
    assert set(records) == {d.drug_id for d in content}
    assert summary.drugs == summary.new == len(content)
    for drug in content:
        rec = records[drug.drug_id]
        assert rec.name == drug.name and rec.change == "new"
        assert rec.sections == expected_sections(drug), drug.drug_id
        assert sorted(rec.categories) == sorted(c.name for c in drug.categories)
        assert set(rec.diseases) == {d for c in drug.categories for d in profile.diseases_of(c.code)}
        assert set(drug.diseases) <= set(rec.diseases)
        assert rec.etag and rec.last_modified and rec.encoding == "utf-8"
    # Pagination followed: every page of every category was requested.
    listing_pages = sum(-(-len(ds) // site.page_size) for _, ds in categories(content).values())
    assert site.fetched("/drugref/drugCateLast.do") == listing_pages
    assert summary.pages_fetched == len(site.requests)

    # Re-crawl: conditional requests, every drug unchanged (server answers 304).
    site.reset_log()
    again = run_crawl(settings, out, base_url=site.base_url)
    assert again.finished and not again.resumed
    assert (again.drugs, again.unchanged, again.new, again.changed) == (len(content), len(content), 0, 0)
    drug_hits = [r for r in site.requests if r.path.startswith("/drugref/html/")]
    assert drug_hits and all(r.status == 304 and "If-None-Match" in r.headers for r in drug_hits)
    assert {r.drug_id: r.change for r in _records(out).values()} == dict.fromkeys(records, "unchanged")
    assert {k: r.sections for k, r in _records(out).items()} == {k: r.sections for k, r in records.items()}

    # Edit one page: exactly that drug is changed.
    edited = content[len(content) // 2]
    site.edit_drug(edited.drug_id, "药物相互作用", "1.与测试药合用,作用增强。2.与另一药合用,作用减弱。")
    third = run_crawl(settings, out, base_url=site.base_url)
    changes = {r.drug_id: r.change for r in _records(out).values()}
    assert [k for k, v in changes.items() if v == "changed"] == [edited.drug_id]
    assert (third.changed, third.unchanged, third.new) == (1, len(content) - 1, 0)
    assert _records(out)[edited.drug_id].interactions == "1.与测试药合用,作用增强。2.与另一药合用,作用减弱。"

    # Without ETag/Last-Modified the content hash decides: all unchanged again.
    site.faults.conditional = False
    fourth = run_crawl(settings, out, base_url=site.base_url)
    assert (fourth.unchanged, fourth.changed, fourth.new) == (len(content), 0, 0)

    # Fetching one drug by id keeps the categories and diseases its listings gave it.
    by_id = run_crawl(settings, out, base_url=site.base_url, drug_ids=[edited.drug_id])
    assert by_id.drugs == by_id.unchanged == 1
    (rec,) = _records(out).values()
    assert rec.categories == records[edited.drug_id].categories and rec.diseases == records[edited.drug_id].diseases


def test_robots_txt_is_respected_and_reported(site, content, crawl_env):
    settings, out = crawl_env
    blocked = content[0]
    site.faults.robots_disallow = [site.drug_path(blocked.drug_id)]
    # The category index is down too: the spider falls back to the seeds' listing URLs.
    site.faults.status = {"/drugref/drugCateIndex.do": [404]}
    summary = run_crawl(settings, out, base_url=site.base_url)
    assert summary.finished
    assert site.fetched(site.drug_path(blocked.drug_id)) == 0  # never requested
    assert blocked.drug_id not in _records(out)
    assert set(_records(out)) == {d.drug_id for d in content} - {blocked.drug_id}
    assert summary.errors == {"robots_disallowed": 1, "http_404": 1}
    rejects = read_rejects(summary.rejects)
    assert sorted((r["drug_id"] or "", r["reason"]) for r in rejects) == [
        ("", "http_404"), (blocked.drug_id, "robots_disallowed")]


def test_rate_limit_stops_cleanly_and_resume_finishes(site, content, crawl_env):
    settings, out = crawl_env
    site.faults.rate_limit_after = 12  # the captcha page from the 13th page on
    first = run_crawl(settings, out, base_url=site.base_url)
    assert not first.finished and first.stopped_reason == "rate_limited"
    partial = _records(out)  # a valid file with what was reached before the stop
    assert 0 < len(partial) < len(content)
    assert first.drugs == len(partial)
    # Backed off and retried (rate_limit_retries=1) before stopping; never more.
    limited = [r for r in site.requests if r.path not in ("/robots.txt",)][12:]
    assert 1 <= len(limited) <= 3

    site.faults.rate_limit_after = None
    site.reset_log()
    second = run_crawl(settings, out, base_url=site.base_url)
    assert second.resumed and second.finished and second.stopped_reason is None
    records = _records(out)
    assert set(records) == {d.drug_id for d in content}  # one output with both parts
    assert second.drugs == second.new == len(content)
    # The resumed part did not fetch again what the first part already had.
    refetched = {site.drug_path(k) for k in partial} & {r.path for r in site.requests}
    assert refetched == set()
    for drug in content:
        assert records[drug.drug_id].sections == expected_sections(drug)

    # A crawl after the finished one starts afresh (all unchanged), not as a resume.
    third = run_crawl(settings, out, base_url=site.base_url)
    assert third.finished and not third.resumed and third.unchanged == len(content)


def test_gbk_truncated_login_and_transient_errors(site, content, crawl_env):
    settings, out = crawl_env
    gbk, meta_gbk, truncated, login, flaky, broken, slow, too_slow = (d.drug_id for d in content[:8])
    site.faults.gbk = [gbk]
    site.faults.gbk_meta_only = [meta_gbk]
    site.faults.truncate = [site.drug_path(truncated)]
    site.faults.login = [site.drug_path(login)]
    site.faults.status = {site.drug_path(flaky): [503, 429], site.drug_path(broken): [503, 503, 503]}
    site.faults.slow = {site.drug_path(slow): 0.3, site.drug_path(too_slow): 2.0}
    ids = [d.drug_id for d in content[:8]]
    settings.crawl.download_timeout = 1.0
    with pytest.raises(PagesLost, match=r"3 pages lost after retries \(download_error 1, http_503 1, "
                                        r"truncated_html 1\); 4 drugs crawled") as lost:
        run_crawl(settings, out, base_url=site.base_url, drug_ids=ids)
    summary = lost.value.summary
    assert summary.finished and summary.lost == {"download_error": 1, "http_503": 1, "truncated_html": 1}
    records = _records(out)
    by_id = {d.drug_id: d for d in content}
    for drug_id in (gbk, meta_gbk, flaky, slow):
        assert records[drug_id].sections == expected_sections(by_id[drug_id]), drug_id
    # Scrapy (w3lib) decodes GBK with its superset GB18030.
    assert records[gbk].encoding in ("gbk", "gb18030") and records[meta_gbk].encoding in ("gbk", "gb18030")
    assert site.fetched(site.drug_path(flaky)) == 3  # 503, 429, then the page
    assert site.fetched(site.drug_path(broken)) == 3  # retry_times=2: given up, reported
    assert site.fetched(site.drug_path(truncated)) == 3  # a cut-off page is retried too, then rejected
    # Every response counts, the retried ones too (the timed-out page never answered in time).
    assert summary.pages_fetched == len([r for r in site.requests if r.path != site.drug_path(too_slow)])
    assert summary.pages_retried == 2 + 2 + 2  # flaky 503+429, broken 503+503, truncated twice
    assert summary.errors == {"truncated_html": 1, "login_required": 1, "http_503": 1, "download_error": 1}
    assert summary.retries >= 6
    rejects = read_rejects(summary.rejects)
    reasons = {r["drug_id"]: r["reason"] for r in rejects}
    assert reasons == {truncated: "truncated_html", login: "login_required", broken: "http_503",
                       too_slow: "download_error"}
    assert "TimeoutError" in next(r["detail"] for r in rejects if r["drug_id"] == too_slow)
    assert set(records) == {gbk, meta_gbk, flaky, slow}


def test_page_limit_stops_resumably(site, content, crawl_env):
    settings, out = crawl_env
    ids = [d.drug_id for d in content[:6]]
    settings.crawl.max_pages = 3  # robots.txt and two drug pages
    first = run_crawl(settings, out, base_url=site.base_url, drug_ids=ids)
    assert first.stopped_reason == "closespider_pagecount" and not first.finished
    assert 1 <= first.drugs < len(ids)
    settings.crawl.max_pages = 0
    second = run_crawl(settings, out, base_url=site.base_url, drug_ids=ids)
    assert second.resumed and second.finished
    assert sorted(_records(out)) == sorted(ids)
    fetched = [r.path for r in site.requests if r.path.startswith("/drugref/html/")]
    assert sorted(fetched) == sorted(site.drug_path(i) for i in ids)  # each page exactly once over both parts


def test_a_second_crawl_on_the_same_state_is_refused(site, content, crawl_env):
    settings, out = crawl_env
    lock = settings.home / "crawl" / "crawl.lock"
    lock.parent.mkdir(parents=True)
    with lock.open("a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # as a running crawl holds it
        with pytest.raises(CrawlError, match="another crawl is running"):
            run_crawl(settings, out, base_url=site.base_url, drug_ids=[content[0].drug_id])
    assert run_crawl(settings, out, base_url=site.base_url, drug_ids=[content[0].drug_id]).finished


def read_rejects(path) -> list[dict]:
    assert path is not None and path.is_file()
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
