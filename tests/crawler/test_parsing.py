"""Parsing and profile tests on rendered fixture pages (no network)."""

from __future__ import annotations

import pytest
from parsel import Selector

from ddikg.crawler.fixture_site import render
from ddikg.crawler.fixture_site.server import fixture_profile_path, write_fixture_profile
from ddikg.crawler.parsing import (
    PageRejected,
    fragment_text,
    normalise_text,
    normalise_title,
    parse_drug,
    parse_listing,
    rate_limit_marker,
)
from ddikg.crawler.profile import ProfileError, default_profile_path, load_profile
from tests.crawler.conftest import expected_sections

BASE = "http://127.0.0.1:1"


@pytest.fixture(scope="module")
def profile():
    return load_profile(base_url=BASE)


def _parse(html: str, url: str, profile):
    return parse_drug(Selector(text=html), html, url, profile)


def test_normalise_text_collapses_and_is_idempotent():
    raw = "  1.与多巴胺合用,\u00a0\u00a0利尿作用加强。 \r\n\n\t2.与华法林合用\u3000出血风险增加。  "
    once = normalise_text(raw)
    assert once == "1.与多巴胺合用, 利尿作用加强。\n2.与华法林合用 出血风险增加。"
    assert normalise_text(once) == once


def test_fragment_text_handles_html_remnants():
    html = "1.与<b>多巴胺</b>合用&nbsp;,利尿作用加强。<br/>2.&lt;慎用&gt;<span> 与 <i>华法林</i></span>合用<p>3.其他</p>"
    assert fragment_text(html) == "1.与多巴胺合用 ,利尿作用加强。\n2.<慎用> 与 华法林合用\n3.其他"


def test_titles_lose_trailing_colon_and_spaces():
    assert normalise_title(" 药物相互作用： ") == "药物相互作用"
    assert normalise_title("适应症:") == "适应症"
    assert normalise_title("药物 相互作用\n：") == "药物相互作用"


def test_every_fixture_drug_page_parses_to_its_content(content, profile):
    for drug in content:
        html = render.drug_page(drug)
        page = _parse(html, profile.drug_url(drug.drug_id), profile)
        assert page.drug_id == drug.drug_id
        assert page.name == drug.name
        assert page.sections == expected_sections(drug), drug.drug_id
        assert list(page.sections) == list(expected_sections(drug))  # page order kept


def test_gbk_encoded_page_round_trips(content, profile):
    drug = content[0]
    html = render.drug_page(drug, charset="gbk")
    decoded = html.encode("gbk", errors="xmlcharrefreplace").decode("gbk")
    assert _parse(decoded, profile.drug_url(drug.drug_id), profile).sections == expected_sections(drug)


def test_truncated_login_and_empty_pages_are_rejected_with_reasons(content, profile):
    drug = content[0]
    url = profile.drug_url(drug.drug_id)
    html = render.drug_page(drug)
    with pytest.raises(PageRejected) as exc:
        _parse(html[: len(html) // 2], url, profile)
    assert exc.value.reason == "truncated_html"
    with pytest.raises(PageRejected) as exc:
        _parse(render.login_page(), url, profile)
    assert exc.value.reason == "login_required"
    with pytest.raises(PageRejected) as exc:
        _parse(render.page("x", "<div class='info-content'><div class='info-left'></div></div>"), url, profile)
    assert exc.value.reason == "no_sections"
    with pytest.raises(PageRejected) as exc:
        _parse(html, BASE + "/somewhere/else.html", profile)
    assert exc.value.reason == "not_a_drug_page"


def test_missing_sections_and_name_fallback(content, profile):
    drug = content[0].model_copy(update={"sections": {"药品名称": "某药片", "适应症": "  ", "药物相互作用": "尚不明确。"}})
    html = render.drug_page(drug).replace('<h1 class="drug-title">', '<h1 class="other">')
    page = _parse(html, profile.drug_url(drug.drug_id), profile)
    assert page.sections == {"药品名称": "某药片", "药物相互作用": "尚不明确。"}  # the blank section is absent
    assert page.name == "某药片"  # from the 药品名称 section when the heading is missing


def test_listing_pagination_and_category(content, profile):
    drugs = content[:3]
    html = render.listing_page("H23", "利尿药", drugs, 1, 3)
    url = profile.listing_url("H23")
    page = parse_listing(Selector(text=html), url, profile)
    assert page.category_name == "利尿药"
    assert page.drug_urls == [profile.drug_url(d.drug_id) for d in drugs]
    assert page.next_url == profile.url("/drugref/drugCateLast.do?treeCode=H23&page=2")
    last = parse_listing(Selector(text=render.listing_page("H23", "利尿药", drugs, 3, 3)), url, profile)
    assert last.next_url is None


def test_rate_limit_page_is_recognised(profile):
    html = render.rate_limit_page()
    assert rate_limit_marker(Selector(text=html), html, profile) == "您的访问过于频繁"
    html = render.page("x", '<form id="validCaptchaForm"></form>')
    assert rate_limit_marker(Selector(text=html), html, profile) == "#validCaptchaForm"


def test_profile_errors_name_the_file_and_field(tmp_path):
    with pytest.raises(ProfileError, match="no such site profile"):
        load_profile(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [", encoding="utf-8")
    with pytest.raises(ProfileError, match=r"bad\.toml: invalid TOML"):
        load_profile(bad)
    text = default_profile_path().read_text(encoding="utf-8")
    broken = tmp_path / "broken.toml"
    broken.write_text(text.replace('drug_id_pattern = "/drugref/html/([^/?#]+)\\\\.shtml"',
                                   'drug_id_pattern = "/drugref/html/x"'), encoding="utf-8")
    with pytest.raises(ProfileError, match=r"broken\.toml: paths\.drug_id_pattern"):
        load_profile(broken)
    with pytest.raises(ProfileError, match="base_url"):
        load_profile(base_url="ftp://example.org")


def test_shipped_profile_has_no_fixture_codes_and_the_fixture_profile_is_current(content, tmp_path):
    """The Yimaitong profile ships no disease table (the fixture's codes would label a real site's drugs
    wrongly); the fixture site's profile holds them and matches what its content implies."""
    assert load_profile().diseases == {}
    fixture = load_profile(fixture_profile_path())
    regenerated = load_profile(write_fixture_profile(tmp_path / "p.toml", content))
    assert fixture.diseases == regenerated.diseases
    assert fixture.model_dump(exclude={"diseases", "source"}) == load_profile().model_dump(
        exclude={"diseases", "source"})


def test_fixture_profile_seeds_cover_the_fixture_categories(content):
    """The demo crawls the fixture site with the fixture profile: every fixture category must be seeded."""
    profile = load_profile(fixture_profile_path())
    for drug in content:
        for cat in drug.categories:
            seeded = profile.diseases_of(cat.code)
            assert seeded, f"category {cat.code} ({cat.name}) of drug {drug.drug_id} is not in {profile.source} [diseases]"
            assert set(drug.diseases) <= set(
                d for c in drug.categories for d in profile.diseases_of(c.code)
            ), f"drug {drug.drug_id}: diseases {drug.diseases} not reachable from its categories' seeds"
