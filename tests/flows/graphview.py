"""Read a whole DDI graph back in a comparable form (what two runs must agree on)."""

from __future__ import annotations

from ddikg.config import Settings

DUMP = """
MATCH (s:Drug)-[e]->(o:Drug)
RETURN s.name AS s, type(e) AS t, o.name AS o, e.evidence AS evidence, e.evidence_sources AS sources,
       e.model_id AS model_id
"""


def _backend(settings: Settings):
    from ddikg.kg_loader.backends import backend_for

    return backend_for(settings)


def _rows(settings: Settings, cypher: str) -> list[dict]:
    import redis

    with _backend(settings) as b:
        try:
            return b.run(cypher, read_only=True)
        except redis.ResponseError as exc:
            if "empty key" in str(exc):  # FalkorDB: the graph was never written to
                return []
            raise


def edges(settings: Settings) -> dict[tuple[str, str, str], dict]:
    """(subject, type, object) -> its stable properties: evidence sentences, their source drugs, model."""
    rows = _rows(settings, DUMP)
    out = {}
    for r in rows:
        out[(r["s"], r["t"], r["o"])] = {
            "evidence": tuple(sorted(zip(r["evidence"] or [], r["sources"] or [], strict=True))),
            "model_id": r["model_id"],
        }
    return out


def drugs(settings: Settings) -> set[str]:
    return {r["name"] for r in _rows(settings, "MATCH (d:Drug) RETURN d.name AS name")}


def graph_type(predicate: str) -> str:
    from ddikg.labels import relation

    return relation(predicate).graph


def restrict(edges: dict[tuple[str, str, str], dict], sources: set[str]) -> dict[tuple[str, str, str], dict]:
    """The part of a graph read from the pages of ``sources``: what a run over just those drugs builds."""
    out = {}
    for key, edge in edges.items():
        evidence = tuple(ev for ev in edge["evidence"] if ev[1] in sources)
        if evidence:
            out[key] = {**edge, "evidence": evidence}
    return out
