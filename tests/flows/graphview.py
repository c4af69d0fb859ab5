"""Read a whole DDI graph back in a comparable form (what two runs must agree on)."""

from __future__ import annotations

from flows.config import Settings

DUMP = """
MATCH (s:Drug)-[e]->(o:Drug)
RETURN s.name AS s, type(e) AS t, o.name AS o, e.evidence AS evidence, e.evidence_sources AS sources,
       e.model_id AS model_id
"""


def _backend(settings: Settings):
    from kg_loader.backends import backend_for

    return backend_for(settings)


def edges(settings: Settings) -> dict[tuple[str, str, str], dict]:
    """(subject, type, object) -> its stable properties: evidence sentences, their source drugs, model."""
    with _backend(settings) as b:
        rows = b.run(DUMP, read_only=True)
    out = {}
    for r in rows:
        out[(r["s"], r["t"], r["o"])] = {
            "evidence": tuple(sorted(zip(r["evidence"] or [], r["sources"] or [], strict=True))),
            "model_id": r["model_id"],
        }
    return out


def drugs(settings: Settings) -> set[str]:
    with _backend(settings) as b:
        return {r["name"] for r in b.run("MATCH (d:Drug) RETURN d.name AS name", read_only=True)}


def graph_type(predicate: str) -> str:
    from flows.labels import relation

    return relation(predicate).graph
