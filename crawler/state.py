"""Crawl state kept between runs (``<home>/crawl/state.sqlite``).

Per drug: URL, ETag, Last-Modified, content hash and the last record, which make conditional requests
and change detection possible. Per run: the job it belongs to (what was asked for), which drugs it
reached (with their change status and the categories they were listed under), the pages it could not
use, and the pages it parsed (status, headers, body), so a crawl stopped by the site, interrupted or
killed and resumed later replays what it already parsed instead of fetching it again, writes one
complete output, and the summary counts both parts.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from ddikg.contracts import ChangeStatus, RawDrugRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS drugs (
    drug_id TEXT PRIMARY KEY, url TEXT NOT NULL, etag TEXT, last_modified TEXT,
    content_hash TEXT NOT NULL, record TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, started_at TEXT NOT NULL, status TEXT NOT NULL, stopped_reason TEXT,
    out TEXT, rejects TEXT, jobdir TEXT, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS run_drugs (
    run_id TEXT NOT NULL, drug_id TEXT NOT NULL, change TEXT NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (run_id, drug_id));
CREATE TABLE IF NOT EXISTS run_listings (
    run_id TEXT NOT NULL, drug_id TEXT NOT NULL, category TEXT NOT NULL, disease TEXT NOT NULL,
    PRIMARY KEY (run_id, drug_id, category, disease));
CREATE TABLE IF NOT EXISTS run_errors (
    run_id TEXT NOT NULL, seq INTEGER NOT NULL, url TEXT NOT NULL, drug_id TEXT, reason TEXT NOT NULL,
    detail TEXT, at TEXT NOT NULL, PRIMARY KEY (run_id, seq));
CREATE TABLE IF NOT EXISTS run_pages (
    run_id TEXT NOT NULL, url TEXT NOT NULL, status INTEGER NOT NULL, headers TEXT NOT NULL, body BLOB NOT NULL,
    PRIMARY KEY (run_id, url));
"""

RUNNING, STOPPED, FINISHED = "running", "stopped", "finished"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class CrawlState:
    """SQLite-backed crawl state; every write commits at once so a killed crawl loses nothing."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "state.sqlite"
        self.db = sqlite3.connect(self.path, isolation_level=None)  # autocommit
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(runs)")}
        if "job_key" not in columns:  # a state written before runs were keyed by job
            self.db.execute("ALTER TABLE runs ADD COLUMN job_key TEXT NOT NULL DEFAULT ''")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> CrawlState:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---------------------------------------------------------------- runs

    def last_run(self, job_key: str | None = None) -> dict | None:
        """The latest run (of ``job_key`` when given)."""
        where, args = ("WHERE job_key=? ", (job_key,)) if job_key is not None else ("", ())
        row = self.db.execute(
            "SELECT run_id, status, stopped_reason, out, rejects, jobdir, started_at, job_key FROM runs "
            f"{where}ORDER BY started_at DESC, rowid DESC LIMIT 1", args).fetchone()
        keys = ("run_id", "status", "stopped_reason", "out", "rejects", "jobdir", "started_at", "job_key")
        return dict(zip(keys, row, strict=True)) if row else None

    def resumable_run(self, job_key: str) -> dict | None:
        """The job's last run when it did not finish: stopped (its JOBDIR holds the pending requests) or
        still marked running (its process was killed)."""
        run = self.last_run(job_key)
        return run if run and run["status"] in (RUNNING, STOPPED) else None

    def begin_run(self, *, job_key: str, out: str, rejects: str, jobdir: str) -> tuple[str, bool, bool]:
        """Resume the job's unfinished run if there is one, else start a new one.

        Returns (run_id, resumed, killed): ``killed`` when the resumed run is still marked running, i.e.
        its process died without closing (SIGKILL, power loss), so its JOBDIR cannot be trusted.
        The caller holds the crawl lock, so no live process owns a run marked running.
        """
        run = self.resumable_run(job_key)
        if run is not None:
            self.db.execute("UPDATE runs SET status=?, out=?, rejects=?, jobdir=?, updated_at=? WHERE run_id=?",
                            (RUNNING, out, rejects, jobdir, _now(), run["run_id"]))
            return run["run_id"], True, run["status"] == RUNNING
        run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:6]
        self.db.execute("INSERT INTO runs (run_id, started_at, status, stopped_reason, out, rejects, jobdir, "
                        "updated_at, job_key) VALUES (?,?,?,?,?,?,?,?,?)",
                        (run_id, _now(), RUNNING, None, out, rejects, jobdir, _now(), job_key))
        # Parsed pages are kept only for runs that may still resume.
        self.db.execute("DELETE FROM run_pages WHERE run_id IN (SELECT run_id FROM runs WHERE status=?)",
                        (FINISHED,))
        return run_id, False, False

    def end_run(self, run_id: str, *, finished: bool, stopped_reason: str | None) -> None:
        self.db.execute("UPDATE runs SET status=?, stopped_reason=?, updated_at=? WHERE run_id=?",
                        (FINISHED if finished else STOPPED, stopped_reason, _now(), run_id))
        if finished:
            self.db.execute("DELETE FROM run_pages WHERE run_id=?", (run_id,))

    # ---------------------------------------------------------------- parsed pages (replayed on resume)

    def remember_page(self, run_id: str, url: str, status: int, headers: dict[str, list[str]], body: bytes) -> None:
        self.db.execute("INSERT OR REPLACE INTO run_pages VALUES (?,?,?,?,?)",
                        (run_id, url, status, json.dumps(headers, ensure_ascii=False), body))

    def parsed_page(self, run_id: str, url: str) -> tuple[int, dict[str, list[str]], bytes] | None:
        row = self.db.execute("SELECT status, headers, body FROM run_pages WHERE run_id=? AND url=?",
                              (run_id, url)).fetchone()
        return (row[0], json.loads(row[1]), bytes(row[2])) if row else None

    def has_parsed_pages(self, run_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM run_pages WHERE run_id=? LIMIT 1", (run_id,)).fetchone() is not None

    # ---------------------------------------------------------------- drugs

    def previous(self, drug_id: str) -> dict | None:
        row = self.db.execute("SELECT url, etag, last_modified, content_hash, record FROM drugs WHERE drug_id=?",
                              (drug_id,)).fetchone()
        if row is None:
            return None
        url, etag, last_modified, content_hash, record = row
        return {"url": url, "etag": etag, "last_modified": last_modified, "content_hash": content_hash,
                "record": RawDrugRecord.model_validate_json(record)}

    def record_drug(self, run_id: str, record: RawDrugRecord, *,
                    not_modified: bool = False) -> tuple[ChangeStatus, bool]:
        """Store a crawled record, decide new/changed/unchanged against the last crawl, note it for the run.

        Returns (change, first): ``first`` is False when the run had already reached the drug.
        """
        prev = self.previous(record.drug_id)
        change: ChangeStatus
        if prev is None:
            change = "new"
        elif not_modified or prev["content_hash"] == record.content_hash:
            change = "unchanged"
        else:
            change = "changed"
        update: dict = {"change": change}
        if prev is not None and not record.categories:
            # A page fetched by id (not from a listing) keeps the categories its last listing gave it.
            update |= {"categories": prev["record"].categories, "diseases": prev["record"].diseases}
        self.db.execute(
            "INSERT OR REPLACE INTO drugs VALUES (?,?,?,?,?,?,?)",
            (record.drug_id, record.url, record.etag, record.last_modified, record.content_hash,
             record.model_copy(update=update).to_json(), _now()))
        # A drug met twice in one run keeps its first verdict (the second visit compares with itself).
        seq = self.db.execute("SELECT COUNT(*) FROM run_drugs WHERE run_id=?", (run_id,)).fetchone()[0]
        first = self.db.execute("INSERT OR IGNORE INTO run_drugs VALUES (?,?,?,?)",
                                (run_id, record.drug_id, change, seq)).rowcount == 1
        row = self.db.execute("SELECT change FROM run_drugs WHERE run_id=? AND drug_id=?",
                              (run_id, record.drug_id)).fetchone()
        return row[0], first

    def record_listing(self, run_id: str, drug_id: str, category: str, diseases: list[str]) -> None:
        for disease in diseases or [""]:
            self.db.execute("INSERT OR IGNORE INTO run_listings VALUES (?,?,?,?)",
                            (run_id, drug_id, category, disease))

    def record_error(self, run_id: str, *, url: str, reason: str, detail: str = "",
                     drug_id: str | None = None) -> bool:
        """Note a page the run could not use; a page replayed on resume is noted once. True when new."""
        if self.db.execute("SELECT 1 FROM run_errors WHERE run_id=? AND url=? AND reason=?",
                           (run_id, url, reason)).fetchone():
            return False
        seq = self.db.execute("SELECT COUNT(*) FROM run_errors WHERE run_id=?", (run_id,)).fetchone()[0]
        self.db.execute("INSERT INTO run_errors VALUES (?,?,?,?,?,?,?)",
                        (run_id, seq, url, drug_id, reason, detail, _now()))
        return True

    # ---------------------------------------------------------------- run output

    def run_record(self, run_id: str, drug_id: str) -> RawDrugRecord:
        """One drug as the run has it so far (change status, categories/diseases of the listings seen)."""
        change, record = self.db.execute(
            "SELECT r.change, d.record FROM run_drugs r JOIN drugs d USING (drug_id) WHERE r.run_id=? AND "
            "r.drug_id=?", (run_id, drug_id)).fetchone()
        cats: dict[str, None] = {}
        dis: dict[str, None] = {}
        for category, disease in self.db.execute(
                "SELECT category, disease FROM run_listings WHERE run_id=? AND drug_id=? ORDER BY rowid",
                (run_id, drug_id)):
            cats[category] = None
            if disease:
                dis[disease] = None
        update: dict = {"change": change}
        if cats:
            update |= {"categories": list(cats), "diseases": list(dis)}
        return RawDrugRecord.model_validate_json(record).model_copy(update=update)

    def run_records(self, run_id: str) -> list[RawDrugRecord]:
        """Every drug the run reached, in the order reached, with categories/diseases from its listings."""
        listings: dict[str, tuple[dict[str, None], dict[str, None]]] = {}
        for drug_id, category, disease in self.db.execute(
                "SELECT drug_id, category, disease FROM run_listings WHERE run_id=? ORDER BY rowid", (run_id,)):
            cats, dis = listings.setdefault(drug_id, ({}, {}))
            cats[category] = None
            if disease:
                dis[disease] = None
        out = []
        for drug_id, change, record in self.db.execute(
                "SELECT r.drug_id, r.change, d.record FROM run_drugs r JOIN drugs d USING (drug_id) "
                "WHERE r.run_id=? ORDER BY r.seq", (run_id,)):
            rec = RawDrugRecord.model_validate_json(record)
            update: dict = {"change": change}
            if drug_id in listings:
                update["categories"] = list(listings[drug_id][0])
                update["diseases"] = list(listings[drug_id][1])
            out.append(rec.model_copy(update=update))
        # Remember the listings with the drug, for later crawls that fetch it by id.
        for rec in out:
            if rec.drug_id in listings:
                self.db.execute("UPDATE drugs SET record=? WHERE drug_id=?", (rec.to_json(), rec.drug_id))
        return out

    def run_errors(self, run_id: str) -> list[dict]:
        keys = ("url", "drug_id", "reason", "detail", "at")
        rows = self.db.execute("SELECT url, drug_id, reason, detail, at FROM run_errors WHERE run_id=? ORDER BY seq",
                               (run_id,))
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def run_counts(self, run_id: str) -> tuple[Counter, Counter]:
        changes = Counter(dict(self.db.execute(
            "SELECT change, COUNT(*) FROM run_drugs WHERE run_id=? GROUP BY change", (run_id,)).fetchall()))
        errors = Counter(dict(self.db.execute(
            "SELECT reason, COUNT(*) FROM run_errors WHERE run_id=? GROUP BY reason", (run_id,)).fetchall()))
        return changes, errors

