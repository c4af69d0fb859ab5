"""The site profile: URLs, CSS selectors, page markers and disease seeds of the crawled site (TOML)."""

from __future__ import annotations

import re
import sys
from importlib import resources
from pathlib import Path
from urllib.parse import urljoin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - pydantic-settings brings tomli on 3.10
    import tomli as tomllib


class ProfileError(ValueError):
    """A site profile that cannot be used (missing file, bad TOML, missing or invalid fields)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Paths(_Section):
    category_index: str
    category_listing: str
    drug_page: str
    drug_id_pattern: str
    category_code_param: str = "treeCode"
    login_path_patterns: list[str] = Field(default_factory=list)

    @field_validator("drug_id_pattern")
    @classmethod
    def _one_group(cls, v: str) -> str:
        try:
            groups = re.compile(v).groups
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        if groups < 1:
            raise ValueError("needs a group that captures the drug id")
        return v


class Listing(_Section):
    index_links: str
    category_name: str
    drug_links: str
    pagination_links: str
    next_text: str = ">"
    # A listing page without this (in its last 4 KB) is cut off and retried; "" = not checked.
    end_marker: str = "</html>"
    # A selector every listing page matches (e.g. its pagination footer); a page without it is cut off.
    footer: str = ""


class Drug(_Section):
    name: str
    section_title: str
    section_body: str
    name_section: str = "药品名称"
    end_marker: str = "</html>"


class Markers(_Section):
    rate_limit_text: list[str] = Field(default_factory=list)
    rate_limit_selectors: list[str] = Field(default_factory=list)
    login_text: list[str] = Field(default_factory=list)
    login_selectors: list[str] = Field(default_factory=list)


class SiteProfile(_Section):
    name: str
    base_url: str
    paths: Paths
    listing: Listing
    drug: Drug
    markers: Markers
    diseases: dict[str, list[str]] = Field(default_factory=dict)  # disease -> category tree codes
    source: str = ""  # where the profile was read from (for messages)

    @field_validator("base_url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not re.match(r"^https?://[^/]+", v):
            raise ValueError(f"must be an http(s) URL, not {v!r}")
        return v.rstrip("/")

    def with_base_url(self, base_url: str | None) -> SiteProfile:
        if not base_url:
            return self
        return SiteProfile.model_validate(self.model_dump() | {"base_url": base_url})

    def url(self, path: str) -> str:
        return urljoin(self.base_url + "/", path.lstrip("/"))

    def listing_url(self, code: str) -> str:
        return self.url(self.paths.category_listing.format(code=code))

    def drug_url(self, drug_id: str) -> str:
        return self.url(self.paths.drug_page.format(drug_id=drug_id))

    def drug_id_of(self, url: str) -> str | None:
        m = re.search(self.paths.drug_id_pattern, url)
        return m.group(1) if m else None

    def diseases_of(self, code: str) -> list[str]:
        """The seeded diseases a category serves, in profile order."""
        return [d for d, codes in self.diseases.items() if code in codes]

    @property
    def seed_codes(self) -> list[str]:
        seen: dict[str, None] = {}
        for codes in self.diseases.values():
            seen.update(dict.fromkeys(codes))
        return list(seen)


def default_profile_path() -> Path:
    return Path(str(resources.files("ddikg.crawler") / "profiles" / "yimaitong.toml"))


def load_profile(path: str | Path | None = None, *, base_url: str | None = None) -> SiteProfile:
    """Read a site profile (default: the packaged Yimaitong profile); ``base_url`` overrides its host."""
    p = Path(path) if path else default_profile_path()
    if not p.is_file():
        raise ProfileError(f"{p}: no such site profile")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{p}: invalid TOML: {exc}") from None
    try:
        profile = SiteProfile.model_validate(data | {"source": str(p)})
        return profile.with_base_url(base_url)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ProfileError(f"{p}: {where}: {first['msg']}") from None
