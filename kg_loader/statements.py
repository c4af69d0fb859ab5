"""Every loading and refresh statement, written once in the OpenCypher both servers accept.

All values travel as parameters (``$rows``, ``$sources``). Relationship types cannot be parameters in
Cypher, so there is one statement per type, generated here from the fixed whitelist
(:data:`ddikg.kg_loader.model.DDI_TYPES`) and chosen in Python by that name; input text never reaches a
statement's text. Schema DDL differs between the servers and lives in the backends.
"""

from __future__ import annotations

from ddikg.kg_loader.model import DDI_TYPES
from ddikg.labels import BY_GRAPH

# Properties a load writes from ``$rows``; the evidence_* lists are parallel (one entry per sentence).
ROW_PROPERTIES: tuple[str, ...] = (
    "evidence", "evidence_sources", "evidence_urls", "evidence_scores",
    "score", "model_id", "first_seen", "last_seen", "run_id", "offsite_sources",
)
# Edge rows travel as positional lists in this column order, not as maps: the server parses every
# byte of every batch, and with lists neither side spells out (or, client-side, unquotes) a key per
# value; measured 11% less server CPU and 2.5x faster client encoding than short-keyed maps
# (docs/loader.md#benchmark). The statements name columns through :func:`col`, never by number.
EDGE_COLUMNS: tuple[str, ...] = ("s", "o", *ROW_PROPERTIES)
# label_zh follows from the type, so it is a literal of the per-type statement, not a row value.
EDGE_PROPERTIES: tuple[str, ...] = ("label_zh", *ROW_PROPERTIES)


def col(name: str) -> str:
    """The Cypher expression for column ``name`` of a positional edge row ``r``."""
    return f"r[{EDGE_COLUMNS.index(name)}]"


def edge_values(rows: list[dict | list], columns: tuple[str, ...] = EDGE_COLUMNS) -> list[list]:
    """Plan rows (dicts keyed by column name, or lists already in EDGE_COLUMNS order) as wire rows;
    deletions need only ``("s", "o")``."""
    assert columns == EDGE_COLUMNS or not any(type(r) is list for r in rows)
    return [r if type(r) is list else [r[c] for c in columns] for r in rows]


def edge_dict(row: dict | list) -> dict:
    """A plan row as a dict keyed by column name."""
    return row if type(row) is dict else dict(zip(EDGE_COLUMNS, row, strict=True))


_SET_EDGE = ", ".join(["e.label_zh = $LABEL_ZH"] + [f"e.{p} = {col(p)}" for p in ROW_PROPERTIES])
_EDGE_MAP = ", ".join(["label_zh: $LABEL_ZH"] + [f"{p}: {col(p)}" for p in ROW_PROPERTIES])
_RETURN_EDGE = ", ".join(f"e.{p} AS {p}" for p in EDGE_PROPERTIES)
_ENDS = f"(s:Drug {{name: {col('s')}}})-[e:$TYPE]->(o:Drug {{name: {col('o')}}})"

# Drugs: key = normalised name; aliases/ids/urls are sets kept as lists (union on every load).
MERGE_DRUGS = """
UNWIND $rows AS r
MERGE (d:Drug {name: r.name})
ON CREATE SET d.aliases = r.aliases, d.drug_ids = r.drug_ids, d.urls = r.urls
ON MATCH SET d.aliases = coalesce(d.aliases, []) + [x IN r.aliases WHERE NOT x IN coalesce(d.aliases, [])],
             d.drug_ids = coalesce(d.drug_ids, []) + [x IN r.drug_ids WHERE NOT x IN coalesce(d.drug_ids, [])],
             d.urls = coalesce(d.urls, []) + [x IN r.urls WHERE NOT x IN coalesce(d.urls, [])]
"""

MERGE_DISEASES = """
UNWIND $rows AS r
MERGE (x:Disease {name: r.name})
ON CREATE SET x.kind = r.kind
ON MATCH SET x.kind = CASE WHEN x.kind = 'chronic' THEN 'chronic' ELSE r.kind END
"""

MERGE_INDICATED_FOR = """
UNWIND $rows AS r
MATCH (d:Drug {name: r.drug})
MATCH (x:Disease {name: r.disease})
MERGE (d)-[e:INDICATED_FOR]->(x)
ON CREATE SET e.via = r.via, e.first_seen = r.seen
SET e.via = coalesce(e.via, []) + [v IN r.via WHERE NOT v IN coalesce(e.via, [])],
    e.last_seen = r.seen, e.run_id = r.run_id
"""

# Reads for planning a refresh: the current state of the edges a run may change. Edges with
# evidence from a source drug are found from that drug's node (index lookup, then its own edges);
# the rare edge supported by a drug that is neither of its ends lists it in offsite_sources and is
# found by a scan with a cheap first test. (One scan testing `x IN $sources` on every edge costs
# edges x sources: 23 s for 100,000 edges and 5,000 sources, measured.)
# Every read returns the edge's id: two rows with one (s, TYPE, o) and different ids are two copies
# of one edge identity, which the load then merges back into one (plan.merge_copies).
EDGES_OF_SOURCES = f"""
UNWIND $sources AS src
MATCH (:Drug {{name: src}})-[e]-(:Drug)
WHERE src IN e.evidence_sources
RETURN id(e) AS id, startNode(e).name AS s, type(e) AS t, endNode(e).name AS o, {_RETURN_EDGE}
"""

EDGES_OFFSITE = f"""
MATCH (s:Drug)-[e]->(o:Drug)
WHERE size(e.offsite_sources) > 0 AND any(x IN e.offsite_sources WHERE x IN $sources)
RETURN id(e) AS id, s.name AS s, type(e) AS t, o.name AS o, {_RETURN_EDGE}
"""

EDGES_AT_KEYS = f"""
UNWIND $rows AS r
MATCH (s:Drug {{name: r.s}})-[e]->(o:Drug {{name: r.o}})
WHERE type(e) = r.t
RETURN id(e) AS id, s.name AS s, type(e) AS t, o.name AS o, {_RETURN_EDGE}
"""

# Which drugs exist, and the digest of the triples last loaded from each (source drugs only).
EXISTING_DRUGS = """
UNWIND $names AS n
MATCH (d:Drug {name: n})
RETURN d.name AS name, d.load_digest AS digest
"""

# Every stored digest, read once per load: lines of a source without one cannot be trusted, so the
# loader checks them as it reads them (plan.read_triples, ``digested``); the others are trusted
# when their digest equals the stored one.
DIGESTED_DRUGS = """
MATCH (d:Drug)
WHERE d.load_digest IS NOT NULL
RETURN d.name AS name, d.load_digest AS digest
"""

# Stored in the same transaction as the edges it describes (after them).
SET_DIGESTS = """
UNWIND $rows AS r
MATCH (d:Drug {name: r[0]})
SET d.load_digest = r[1]
"""

COUNT_DDI = """
MATCH (:Drug)-[e]->(:Drug)
RETURN type(e) AS t, count(e) AS n
"""


def _per_type(template: str) -> dict[str, str]:
    out = {}
    for t in DDI_TYPES:
        zh = BY_GRAPH[t].zh
        assert zh.isalnum(), zh  # code, not input; still, nothing that could end a string literal
        out[t] = template.replace("$TYPE", t).replace("$LABEL_ZH", f"'{zh}'")
    return out


# The planner knows which edges exist, so new ones are CREATEd (no MERGE probe) between nodes found
# through the Drug.name index; the switch is one transaction, so nothing can create them meanwhile.
# Properties go in the CREATE's map rather than a SET after it: 12% less server CPU (measured).
CREATE_EDGE = _per_type(f"""
UNWIND $rows AS r
MATCH (s:Drug {{name: {col('s')}}})
MATCH (o:Drug {{name: {col('o')}}})
CREATE (s)-[e:$TYPE {{{_EDGE_MAP}}}]->(o)
""")

# The common new edge, one sentence, sent factored (FalkorBackend.factored_params): FalkorDB parses
# parameters as Cypher text, so what every row of a source repeats (its object drug, source, URL,
# offsite list, model id, timestamps) travels once per *group*, a row keeps only [subject, sentence,
# score], and the object is looked up once per group, not per row. Measured on 100,000 new edges:
# 15 MB of parameters instead of 29 and about 40% less server CPU than the per-row CREATE_EDGE
# (docs/loader.md#benchmark). The graph written is the same, property by property (tested).
GROUP_COLUMNS: tuple[str, ...] = ("o", "source", "url", "offsite_sources", "model_id", "first_seen",
                                  "last_seen", "rows")
GROUP_ROW: tuple[str, ...] = ("s", "evidence", "score")


def gcol(name: str) -> str:
    """The Cypher expression for column ``name`` of a group ``g`` (GROUP_COLUMNS)."""
    return f"g[{GROUP_COLUMNS.index(name)}]"


def gval(name: str) -> str:
    """The Cypher expression for column ``name`` of a group's row ``r`` (GROUP_ROW)."""
    return f"r[{GROUP_ROW.index(name)}]"


_GROUP_MAP = ", ".join([
    "label_zh: $LABEL_ZH", f"evidence: [{gval('evidence')}]", f"evidence_sources: [{gcol('source')}]",
    f"evidence_urls: [{gcol('url')}]", f"evidence_scores: [{gval('score')}]", f"score: {gval('score')}",
    f"model_id: {gcol('model_id')}", f"first_seen: {gcol('first_seen')}", f"last_seen: {gcol('last_seen')}",
    "run_id: $run_id", f"offsite_sources: {gcol('offsite_sources')}",
])
assert [p.split(":")[0] for p in _GROUP_MAP.split(", ") if ":" in p] == list(EDGE_PROPERTIES)

CREATE_GROUPED = _per_type(f"""
UNWIND $rows AS g
MATCH (o:Drug {{name: {gcol('o')}}})
UNWIND {gcol('rows')} AS r
MATCH (s:Drug {{name: {gval('s')}}})
CREATE (s)-[e:$TYPE {{{_GROUP_MAP}}}]->(o)
""")

UPDATE_EDGE = _per_type(f"""
UNWIND $rows AS r
MATCH {_ENDS}
SET {_SET_EDGE}
""")

# The edges of unchanged sources (digest equal) are not read back: their sentences, scores, model and
# first/last_seen are what the same lines gave before, so they are confirmed in place (run_id moves,
# nothing is written where it is already this run's), inside the load's transaction. One row per
# source and direction: [name, expected number of edges with evidence from it, ending (IN) or
# starting (OUT) at it]; a source whose count differs (an edge missing, or doubled) comes back, and
# the load plans it from the graph right after. Split by direction so that each edge is visited from
# one end only (in CH-DDI the source is usually the object). The far end's label is not tested: only
# DDI edges, between drugs, carry evidence_sources (10-25% less server CPU, measured).
_CONFIRM = """
UNWIND $rows AS r
MATCH (x:Drug {name: r[0]})
OPTIONAL MATCH (x)$ARROW()
WHERE r[0] IN e.evidence_sources
WITH r, collect(e) AS es
FOREACH (e IN [y IN es WHERE y.run_id <> $run_id] | SET e.run_id = $run_id)
WITH r, size(es) AS n
WHERE n <> r[1]
RETURN r[0] AS source, n
"""
CONFIRM_SOURCES = {"IN": _CONFIRM.replace("$ARROW", "<-[e]-"), "OUT": _CONFIRM.replace("$ARROW", "-[e]->")}

DELETE_EDGE = _per_type(f"""
UNWIND $rows AS r
MATCH {_ENDS}
DELETE e
""")
