"""HTML rendering of the fixture content in the page structure the Yimaitong profile expects."""

from __future__ import annotations

from functools import cache
from html import escape
from importlib import resources
from string import Template

from ddikg.crawler.fixture_site.content import FixtureDrug


@cache
def _template(name: str) -> Template:
    return Template((resources.files("ddikg.crawler.fixture_site") / "templates" / f"{name}.html").read_text("utf-8"))


def text_html(text: str) -> str:
    """Escape text for HTML; line breaks become ``<br>`` (the crawler turns them back into ``\\n``)."""
    return "<br>\n      ".join(escape(line, quote=False) for line in text.split("\n"))


def page(title: str, body: str, *, charset: str = "utf-8") -> str:
    return _template("page").substitute(title=escape(title), body=body, charset=charset)


def drug_page(drug: FixtureDrug, *, charset: str = "utf-8") -> str:
    sections = "\n".join(_template("section").substitute(title=escape(t), text=text_html(v))
                         for t, v in drug.sections.items())
    cats = "、".join(
        f'<a href="/drugref/drugCateLast.do?treeCode={escape(c.code)}">{escape(c.name)}</a>' for c in drug.categories)
    body = _template("drug").substitute(name=escape(drug.name), sections=sections, categories=cats)
    return page(drug.name, body, charset=charset)


def listing_page(code: str, name: str, drugs: list[FixtureDrug], page_no: int, n_pages: int) -> str:
    items = "\n".join(
        f'    <div class="box1"><div class="medince-name"><a href="/drugref/html/{escape(d.drug_id)}.shtml">'
        f"{escape(d.name)}</a></div></div>" for d in drugs)
    links = []
    for p in range(1, n_pages + 1):
        href = f"/drugref/drugCateLast.do?treeCode={escape(code)}&amp;page={p}"
        links.append(f"<span>{p}</span>" if p == page_no else f'<a href="{href}">{p}</a>')
    if page_no < n_pages:
        links.append(f'<a href="/drugref/drugCateLast.do?treeCode={escape(code)}&amp;page={page_no + 1}">&gt;</a>')
    body = _template("listing").substitute(category=escape(name), items=items, pagination=" ".join(links))
    return page(f"{name} 第{page_no}页", body)


def index_page(categories: dict[str, str]) -> str:
    items = "\n".join(f'    <li><a href="/drugref/drugCateLast.do?treeCode={escape(code)}">{escape(name)}</a></li>'
                      for code, name in categories.items())
    return page("药品分类", _template("index").substitute(items=items))


def rate_limit_page() -> str:
    return page("访问过于频繁", _template("rate_limit").template)


def login_page() -> str:
    return page("请登录", _template("login").template)
