"""``ddikg demo``: the whole pipeline on one machine, from nothing to a Cypher answer.

Starts the embedded graph server (left running, so ``ddikg query`` works afterwards) and the fixture
site standing in for Yimaitong (on a fixed port, so drug URLs are stable and a second demo changes
nothing), runs the build-kg flow on it — training a model on the repository's CH-DDI train split when the
home has none (its epoch chosen and its promotion decided on the dev split, never on test) — and prints
what interacts with 布美他尼片.
"""

from __future__ import annotations

from typing import Any

from ddikg.config import Settings
from ddikg.crawler.fixture_site.server import fixture_profile_path

DEMO_DRUG = "布美他尼片"

# The fixture site is on loopback and ours: no politeness delay is owed to it. Its profile holds its
# disease seeds (the shipped Yimaitong profile has none).
DEMO_OVERRIDES: dict[str, Any] = {"crawl": {"download_delay": 0.0, "autothrottle": False,
                                            "profile": str(fixture_profile_path())}}

# What the demo asks the graph (printed with its answer, so it can be pasted into Neo4j Browser).
DEMO_CYPHER = """\
MATCH (d:Drug {name: $drug})-[r]-(other:Drug)
RETURN other.name AS drug, type(r) AS type, r.label_zh AS label,
       CASE WHEN startNode(r) = d THEN 'out' ELSE 'in' END AS direction,
       r.score AS score, r.evidence[0] AS evidence
ORDER BY score DESC, drug"""

EXPLORE = """\
Explore further:
  ddikg query interactions --param drug={drug}        # named queries: see `ddikg query --help`
  ddikg query contraindicated --param limit=20
  ddikg query disease_interactions --param disease=高血压
  ddikg graph status                                    # the embedded graph server (left running)
  DDIKG_CRAWL__PROFILE={profile} ddikg build-kg --base-url {base_url}
      # again, after `python -m ddikg.crawler.fixture_site --port {port}`
  Cypher (the query above, and docs/neo4j-browser.md for Neo4j Browser), e.g.
    MATCH (a:Drug)-[r:CONTRAINDICATION]->(b:Drug) RETURN a.name, b.name, r.evidence LIMIT 20
  The graph: FalkorDB on 127.0.0.1:{graph_port}, graph '{graph}', password in {pw}
  ddikg graph stop                                      # when you are done"""


def interactions_of(settings: Settings, drug: str) -> list[dict[str, Any]]:
    """What interacts with ``drug``, both directions, with type, score and one evidence sentence."""
    from ddikg.kg_loader.api import open_graph
    from ddikg.kg_loader.model import normalise_name

    with open_graph(settings) as graph:
        return graph.run(DEMO_CYPHER, {"drug": normalise_name(drug)}, read_only=True)


def most_interacting(settings: Settings) -> str | None:
    """The drug with the most interactions (the loader's named query), or None for an empty graph."""
    from ddikg.kg_loader.api import run_query

    rows = run_query(settings, "most_interacting", {"limit": 1})
    return rows[0]["drug"] if rows else None


def print_interactions(drug: str, rows: list[dict[str, Any]]) -> None:
    """The answer on stdout (logs and progress are on stderr), one line per edge, never wrapped."""
    print(f"\nWhat interacts with {drug}? Cypher, with $drug = '{drug}':\n{DEMO_CYPHER}\n")
    if not rows:
        print(f"-> no interaction of {drug} in the graph: the model extracted none from its page "
              "(see the run summary above).")
        return
    for r in rows:
        arrow = f"-[{r['type']} {r['label']}]->"
        edge = f"{drug} {arrow} {r['drug']}" if r["direction"] == "out" else f"{r['drug']} {arrow} {drug}"
        score = f"{r['score']:.3f}" if isinstance(r.get("score"), float) else "-"
        print(f"  {edge}   score {score}\n      evidence: {r.get('evidence') or '-'}")
