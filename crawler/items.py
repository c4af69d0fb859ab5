"""What the spider hands to the pipeline: crawled drugs, listing memberships and rejected pages."""

from __future__ import annotations

from dataclasses import dataclass, field

from ddikg.contracts import RawDrugRecord


@dataclass
class DrugItem:
    """A parsed drug page (or, on HTTP 304, the last crawl's record of it)."""

    record: RawDrugRecord
    not_modified: bool = False


@dataclass
class ListingItem:
    """A drug link seen on a category listing: the drug belongs to that category (and its diseases)."""

    drug_id: str
    category: str
    diseases: list[str] = field(default_factory=list)


@dataclass
class RejectItem:
    """A page that was not turned into a record, with the reason (written to the rejects file)."""

    url: str
    reason: str
    detail: str = ""
    drug_id: str | None = None
