"""Turning the site's HTML into text and records: pure functions over parsel selectors, no Scrapy engine.

Text normalisation (:func:`normalise_text`) is the contract between the page and the rest of the
pipeline: ``<br>`` and block elements become line breaks, entities are decoded, runs of spaces
(including ``&nbsp;`` and the ideographic space) collapse to one, lines are stripped and empty lines
dropped. It is idempotent, so text that is already normalised survives a render -> crawl round trip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urljoin, urlparse

from lxml import html as lxml_html
from parsel import Selector

from ddikg.crawler.profile import SiteProfile

# Elements that start a new line when their text is flattened.
_BLOCK_TAGS = frozenset(
    "p div li ul ol tr table thead tbody h1 h2 h3 h4 h5 h6 dd dt dl section article header footer".split()
)
_HSPACE = re.compile(r"[ \t\f\v\r\u00a0\u3000\u2002\u2003\u2009\u200b\ufeff]+")


class PageRejected(Exception):
    """A fetched page that cannot become a record; ``reason`` is a short machine-readable tag."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


def normalise_text(text: str) -> str:
    """Collapse horizontal whitespace, strip every line, drop empty lines."""
    lines = (_HSPACE.sub(" ", line).strip() for line in text.replace("\r\n", "\n").split("\n"))
    return "\n".join(line for line in lines if line)


def normalise_title(title: str) -> str:
    """A section title without whitespace and its trailing colon (``药物相互作用：`` -> ``药物相互作用``)."""
    return re.sub(r"\s+", "", normalise_text(title)).rstrip(":：")


def element_text(root) -> str:
    """Flatten an lxml element to text, turning ``<br>`` and block elements into line breaks."""
    parts: list[str] = []

    def walk(el) -> None:
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag in ("script", "style"):
            parts.append(el.tail or "")
            return
        if tag == "br":
            parts.append("\n")
        else:
            block = tag in _BLOCK_TAGS
            if block:
                parts.append("\n")
            parts.append(el.text or "")
            for child in el:
                walk(child)
            if block:
                parts.append("\n")
        parts.append(el.tail or "")

    parts.append(root.text or "")
    for child in root:
        walk(child)
    return normalise_text("".join(parts))


def fragment_text(fragment: str) -> str:
    """:func:`element_text` of an HTML fragment (for tests and callers holding raw HTML)."""
    wrapper = lxml_html.fragment_fromstring(fragment, create_parent="div")
    return element_text(wrapper)


def _has_any(sel: Selector, text: str, needles: list[str], selectors: list[str]) -> str | None:
    for needle in needles:
        if needle and needle in text:
            return needle
    for css in selectors:
        if sel.css(css):
            return css
    return None


def rate_limit_marker(sel: Selector, text: str, profile: SiteProfile) -> str | None:
    """The marker that shows the page is the site's rate-limit/captcha page, or None."""
    return _has_any(sel, text, profile.markers.rate_limit_text, profile.markers.rate_limit_selectors)


def login_marker(sel: Selector, text: str, url: str, profile: SiteProfile) -> str | None:
    """The marker that shows the page asks for a login, or None."""
    path = urlparse(url).path
    for pattern in profile.paths.login_path_patterns:
        if pattern and pattern in path:
            return pattern
    return _has_any(sel, text, profile.markers.login_text, profile.markers.login_selectors)


@dataclass
class ListingPage:
    category_name: str | None
    drug_urls: list[str] = field(default_factory=list)
    next_url: str | None = None


def parse_listing(sel: Selector, url: str, profile: SiteProfile) -> ListingPage:
    """Drug links, the next-page link and the category name of a category listing page."""
    name = normalise_text(" ".join(sel.css(profile.listing.category_name).getall())) or None
    drugs: dict[str, None] = {}
    for href in sel.css(profile.listing.drug_links).xpath("@href").getall():
        absolute = urljoin(url, href.strip())
        if profile.drug_id_of(absolute):
            drugs[absolute] = None
    next_url = None
    for a in sel.css(profile.listing.pagination_links):
        if normalise_text(" ".join(a.xpath(".//text()").getall())) == profile.listing.next_text:
            href = a.xpath("@href").get()
            if href and not href.strip().lower().startswith("javascript"):
                next_url = urljoin(url, href.strip())
                break
    return ListingPage(name, list(drugs), next_url)


def cut_off(text: str, end_marker: str) -> bool:
    """Whether a page lacks ``end_marker`` near its end (checked case-insensitively; "" = not checked)."""
    return bool(end_marker) and end_marker.lower() not in text[-4096:].lower()


def listing_truncation(sel: Selector, text: str, profile: SiteProfile) -> str | None:
    """Why a listing page looks cut off (no end marker, or no footer the profile says every listing has)."""
    if cut_off(text, profile.listing.end_marker):
        return f"listing ends without {profile.listing.end_marker!r}"
    if profile.listing.footer and not sel.css(profile.listing.footer):
        return f"listing lacks its footer {profile.listing.footer!r}"
    return None


def category_code(url: str, profile: SiteProfile) -> str | None:
    values = parse_qs(urlparse(url).query).get(profile.paths.category_code_param)
    return values[0] if values else None


@dataclass
class DrugPage:
    drug_id: str
    name: str
    sections: dict[str, str]  # title -> text, page order


def parse_drug(sel: Selector, text: str, url: str, profile: SiteProfile) -> DrugPage:
    """Sections of a drug instruction page; raises :class:`PageRejected` for pages that are not one."""
    drug_id = profile.drug_id_of(url)
    if not drug_id:
        raise PageRejected("not_a_drug_page", f"URL does not match {profile.paths.drug_id_pattern!r}")
    marker = login_marker(sel, text, url, profile)
    if marker:
        raise PageRejected("login_required", f"login page (marker {marker!r})")
    if cut_off(text, profile.drug.end_marker):
        raise PageRejected("truncated_html", f"page ends without {profile.drug.end_marker!r}")
    # Titles and bodies in document order: each title owns the bodies up to the next title.
    both = f"{profile.drug.section_title}, {profile.drug.section_body}"
    # lxml hands out one proxy per node only while a reference to it lives: keep the titles alive.
    title_roots = [x.root for x in sel.css(profile.drug.section_title)]
    title_ids = {id(r) for r in title_roots}
    sections: dict[str, str] = {}
    current: str | None = None
    for node in sel.css(both):
        if id(node.root) in title_ids:
            current = normalise_title(element_text(node.root))
            if current and current not in sections:
                sections[current] = ""
        elif current:
            body = element_text(node.root)
            sections[current] = f"{sections[current]}\n{body}".strip("\n") if sections[current] else body
    sections = {t: v for t, v in sections.items() if v}
    if not sections:
        raise PageRejected("no_sections", f"no {profile.drug.section_title!r} sections with text")
    name = normalise_text(" ".join(sel.css(profile.drug.name).getall())).replace("\n", " ")
    if not name:
        name = sections.get(profile.drug.name_section, "").split("\n")[0]
    if not name:
        raise PageRejected("no_name", f"neither {profile.drug.name!r} nor a {profile.drug.name_section} section")
    return DrugPage(drug_id, name, sections)
