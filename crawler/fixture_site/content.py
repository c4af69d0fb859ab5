"""The fixture site's content: ``content/drugs.jsonl`` (one drug a line), read with located errors."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ddikg.jsonl import read_jsonl


class Category(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str
    name: str


class FixtureDrug(BaseModel):
    model_config = ConfigDict(extra="forbid")
    drug_id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    name: str = Field(min_length=1)
    categories: list[Category] = Field(min_length=1)
    diseases: list[str] = Field(default_factory=list)
    sections: dict[str, str] = Field(min_length=1)


def default_content_path() -> Path:
    return Path(str(resources.files("ddikg.crawler.fixture_site") / "content" / "drugs.jsonl"))


def load_content(path: str | Path | None = None) -> list[FixtureDrug]:
    drugs = read_jsonl(path or default_content_path(), FixtureDrug)
    seen: set[str] = set()
    for d in drugs:
        if d.drug_id in seen:
            raise ValueError(f"{path or default_content_path()}: drug_id {d.drug_id} appears twice")
        seen.add(d.drug_id)
    return drugs


def categories(drugs: list[FixtureDrug]) -> dict[str, tuple[str, list[FixtureDrug]]]:
    """Category code -> (name, its drugs in file order), codes in order of first appearance."""
    out: dict[str, tuple[str, list[FixtureDrug]]] = {}
    for d in drugs:
        for c in d.categories:
            out.setdefault(c.code, (c.name, []))[1].append(d)
    return out


def disease_seeds(drugs: list[FixtureDrug]) -> dict[str, list[str]]:
    """Disease -> the category codes of its drugs (what a site profile's [diseases] table would hold)."""
    seeds: dict[str, dict[str, None]] = {}
    for d in drugs:
        for disease in d.diseases:
            seeds.setdefault(disease, {}).update({c.code: None for c in d.categories})
    return {k: list(v) for k, v in seeds.items()}
