"""The fixture site over real HTTP: pages, pagination, conditional requests and fault switches."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from ddikg.crawler.fixture_site.content import categories


def _get(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _post(url: str, data: dict) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(data).encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_structure_pagination_and_index(site, content):
    cats = categories(content)
    assert len(cats) >= 5
    status, _, body = _get(site.base_url + "/drugref/drugCateIndex.do")
    assert status == 200
    for code in cats:
        assert f"treeCode={code}".encode() in body
    code, (name, drugs) = max(cats.items(), key=lambda kv: len(kv[1][1]))
    assert len(drugs) > site.page_size  # pagination really happens
    status, _, page1 = _get(f"{site.base_url}/drugref/drugCateLast.do?treeCode={code}")
    text = page1.decode()
    assert status == 200 and name in text and "&gt;</a>" in text and 'class="fenye"' in text
    assert _get(site.base_url + "/drugref/drugCateLast.do?treeCode=NOPE")[0] == 404
    assert _get(site.base_url + "/drugref/html/does-not-exist.shtml")[0] == 404


def test_conditional_requests_and_edits(site, content):
    path = site.drug_path(content[0].drug_id)
    status, headers, _ = _get(site.base_url + path)
    assert status == 200 and headers["ETag"] and headers["Last-Modified"]
    assert _get(site.base_url + path, {"If-None-Match": headers["ETag"]})[0] == 304
    assert _get(site.base_url + path, {"If-Modified-Since": headers["Last-Modified"]})[0] == 304
    site.edit_drug(content[0].drug_id, "药物相互作用", "1.与某药合用,作用增强。")
    status, new_headers, body = _get(site.base_url + path, {"If-None-Match": headers["ETag"]})
    assert status == 200 and new_headers["ETag"] != headers["ETag"] and "与某药合用".encode() in body


def test_fault_switches_over_http(site, content):
    drug = content[0]
    path = site.drug_path(drug.drug_id)
    status, faults = _post(site.base_url + "/__fixture__/faults",
                           {"status": {path: [503, 429]}, "robots_disallow": [path], "gbk": [drug.drug_id]})
    assert status == 200 and faults["robots_disallow"] == [path]
    assert _get(site.base_url + path)[0] == 503
    assert _get(site.base_url + path)[0] == 429
    status, headers, body = _get(site.base_url + path)
    assert status == 200 and "charset=gbk" in headers["Content-Type"]
    assert drug.name in body.decode("gbk")
    assert f"Disallow: {path}".encode() in _get(site.base_url + "/robots.txt")[2]
    assert _post(site.base_url + "/__fixture__/faults", {"no_such_switch": 1})[0] == 400
    status, _ = _post(site.base_url + "/__fixture__/edit",
                      {"drug_id": drug.drug_id, "section": "药物相互作用", "text": "尚不明确。"})
    assert status == 200
    site.faults.rate_limit_paths = [path]
    assert "您的访问过于频繁" in _get(site.base_url + path)[2].decode()
    site.faults.truncate = [path]
    site.faults.rate_limit_paths = []
    assert b"</html>" not in _get(site.base_url + path)[2]
    assert site.fetched(path) >= 5


@pytest.mark.parametrize("argv", [["--help"]])
def test_module_entry_point_parses_arguments(argv, capsys):
    from ddikg.crawler.fixture_site.__main__ import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    assert "--port" in capsys.readouterr().out
