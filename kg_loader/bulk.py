"""The bulk path for large first loads: ``neo4j-admin database import full`` CSV files.

Built from the same validated, grouped triples (and crawled records) the online loader plans from,
so both paths give the same graph. Files (UTF-8, RFC 4180 quoting: fields with commas, quotes or
newlines are quoted and quotes doubled; Chinese text as is):

- ``drugs.csv``          ``name:ID(Drug)``, aliases/drug_ids/urls as ``string[]``
- ``diseases.csv``       ``name:ID(Disease)``, kind
- ``indicated_for.csv``  ``:START_ID(Drug)``, ``:END_ID(Disease)``, via ``string[]``
- ``interactions.csv``   ``:START_ID(Drug)``, ``:END_ID(Drug)``, ``:TYPE`` and the provenance properties

Array elements are separated by U+001F (unit separator), a character the loader never accepts in
names or sentences, so no element can be split by mistake. Numbers are ``double`` (Neo4j's ``float``
is 32-bit and would change every score). ``neo4j-admin`` sets no property for an empty field, so an
empty array (and the one-element array ``[""]``, which is written as an empty field too) cannot be
imported as such: ``post_import.cypher`` (:data:`POST_IMPORT`) puts them back, so that the imported
graph equals the one the online loader builds from the same files.
"""

from __future__ import annotations

import csv
import os
import shlex
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel

from ddikg.config import Settings
from ddikg.contracts import RawDrugRecord
from ddikg.jsonl import JsonlReader, OnError, default_rejects_path
from ddikg.kg_loader.backends import NEO4J_SCHEMA
from ddikg.kg_loader.loader import node_rows
from ddikg.kg_loader.plan import plan_refresh, read_triples
from ddikg.kg_loader.statements import edge_dict
from ddikg.labels import BY_GRAPH

ARRAY_DELIMITER = "\x1f"
ARRAY_DELIMITER_ARG = "U+001F"

DRUG_HEADER = ["name:ID(Drug)", "aliases:string[]", "drug_ids:string[]", "urls:string[]", "load_digest", ":LABEL"]
DISEASE_HEADER = ["name:ID(Disease)", "kind", ":LABEL"]
INDICATED_HEADER = [":START_ID(Drug)", ":END_ID(Disease)", "via:string[]", "first_seen", "last_seen", "run_id", ":TYPE"]
DDI_HEADER = [":START_ID(Drug)", ":END_ID(Drug)", ":TYPE", "label_zh", "evidence:string[]", "evidence_sources:string[]",
              "evidence_urls:string[]", "evidence_scores:double[]", "score:double", "model_id", "first_seen", "last_seen", "run_id",
              "offsite_sources:string[]"]


# Run once after the import, with the database started (``cypher-shell -f post_import.cypher``):
# the properties neo4j-admin left unset because their field was empty, and the constraints.
# evidence_urls is parallel to evidence and written empty only when it is [""] (one sentence, no URL).
POST_IMPORT: tuple[str, ...] = (
    "MATCH (d:Drug) WHERE d.aliases IS NULL SET d.aliases = []",
    "MATCH (d:Drug) WHERE d.drug_ids IS NULL SET d.drug_ids = []",
    "MATCH (d:Drug) WHERE d.urls IS NULL SET d.urls = []",
    "MATCH (:Drug)-[e]->(:Drug) WHERE e.offsite_sources IS NULL SET e.offsite_sources = []",
    "MATCH (:Drug)-[e]->(:Drug) WHERE e.evidence_urls IS NULL SET e.evidence_urls = [x IN e.evidence | '']",
)


class ExportSummary(BaseModel):
    out_dir: str
    drugs: int
    diseases: int
    indicated_for: int
    interactions: int
    rejected: int
    command: str
    post_command: str


def _arr(values: Iterable[object]) -> str:
    return ARRAY_DELIMITER.join(str(v) for v in values)


def import_command(out_dir: Path, database: str = "neo4j") -> str:
    """The ``neo4j-admin`` command (Neo4j 5) that imports the exported files into ``database``."""
    d = out_dir.resolve()
    args = [
        "neo4j-admin", "database", "import", "full",
        f"--nodes=Drug={d / 'drugs.csv'}", f"--nodes=Disease={d / 'diseases.csv'}",
        f"--relationships={d / 'indicated_for.csv'}", f"--relationships={d / 'interactions.csv'}",
        f"--array-delimiter={ARRAY_DELIMITER_ARG}", "--multiline-fields=true",
        "--overwrite-destination=true", database,
    ]
    return " ".join(shlex.quote(a) for a in args)


def export_csv(
    settings: Settings,
    triples_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    raw_path: str | os.PathLike | None = None,
    run_id: str = "bulk",
    database: str = "neo4j",
    on_error: OnError = "raise",
    rejects: str | os.PathLike | None = None,
) -> ExportSummary:
    """Write the import CSVs and ``import.sh`` (the exact command) into ``out_dir``."""
    g = settings.graph
    out = Path(out_dir)
    run = read_triples(triples_path, on_error=on_error, rejects=rejects or default_rejects_path(triples_path),
                       max_name=g.max_name_length, max_evidence=g.max_evidence_length)
    rejected = run.rejected
    drug_rows, disease_rows, link_rows = [], [], []
    if raw_path is not None:
        reader = JsonlReader(raw_path, RawDrugRecord, on_error=on_error, rejects=default_rejects_path(raw_path))
        records = list(reader)
        rejected += reader.n_bad

        def on_reject(i: int, fld: str, why: str) -> None:
            nonlocal rejected
            if on_error == "raise":
                from ddikg.jsonl import RecordError

                raise RecordError(raw_path, i, fld, why)
            rejected += 1

        drug_rows, disease_rows, link_rows, _ = node_rows(records, run_id, g.max_name_length, on_reject)
    # Every drug an edge mentions is a node, crawled or not (neo4j-admin needs both ends). Aliases in
    # the order the online load leaves them: the crawled ones, then new spellings from the triples.
    drugs = {r["name"]: r for r in drug_rows}
    for key, aliases in run.drugs.items():
        d = drugs.setdefault(key, {"name": key, "aliases": [], "drug_ids": [], "urls": []})
        d["aliases"] = list(d["aliases"]) + [a for a in sorted(aliases) if a not in d["aliases"]]
    plan = plan_refresh(run, {}, run_id)  # against an empty database: everything is a creation
    out.mkdir(parents=True, exist_ok=True)  # only once both inputs have been read and checked

    with _writer(out / "drugs.csv", DRUG_HEADER) as w:
        for name in sorted(drugs):
            d = drugs[name]
            w.writerow([name, _arr(d["aliases"]), _arr(d["drug_ids"]), _arr(d["urls"]), run.digests.get(name, ""),
                        "Drug"])
    with _writer(out / "diseases.csv", DISEASE_HEADER) as w:
        for r in disease_rows:
            w.writerow([r["name"], r["kind"], "Disease"])
    with _writer(out / "indicated_for.csv", INDICATED_HEADER) as w:
        for r in link_rows:
            w.writerow([r["drug"], r["disease"], _arr(r["via"]), r["seen"], r["seen"], r["run_id"], "INDICATED_FOR"])
    n_edges = 0
    with _writer(out / "interactions.csv", DDI_HEADER) as w:
        for typ, rows in sorted(plan.create.items()):
            for r in map(edge_dict, rows):
                w.writerow([r["s"], r["o"], typ, BY_GRAPH[typ].zh, _arr(r["evidence"]), _arr(r["evidence_sources"]),
                            _arr(r["evidence_urls"]), _arr(r["evidence_scores"]), r["score"], r["model_id"],
                            r["first_seen"], r["last_seen"], r["run_id"], _arr(r["offsite_sources"])])
                n_edges += 1
    command = import_command(out, database)
    post = out / "post_import.cypher"
    post.write_text("".join(f"{st};\n" for st in (*POST_IMPORT, *NEO4J_SCHEMA)), encoding="utf-8")
    post_command = f"cypher-shell -d {shlex.quote(database)} -f {shlex.quote(str(post.resolve()))}"
    script = out / "import.sh"
    script.write_text("#!/bin/sh\n# Stop the database first; this replaces its contents.\nset -e\n" + command + "\n"
                      "# Then start the database and run (empty arrays, which neo4j-admin cannot import; constraints):\n"
                      f"# {post_command}\n", encoding="utf-8")
    script.chmod(0o755)
    return ExportSummary(out_dir=str(out), drugs=len(drugs), diseases=len(disease_rows),
                         indicated_for=len(link_rows), interactions=n_edges, rejected=rejected, command=command,
                         post_command=post_command)



class _writer:
    def __init__(self, path: Path, header: list[str]):
        self.path, self.header = path, header

    def __enter__(self):
        self.fh = self.path.open("w", encoding="utf-8", newline="")
        w = csv.writer(self.fh, quoting=csv.QUOTE_MINIMAL, doublequote=True, lineterminator="\n")
        w.writerow(self.header)
        return w

    def __exit__(self, *exc: object) -> None:
        self.fh.close()
