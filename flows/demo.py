"""``ddikg demo``: the whole pipeline on one machine, from nothing to a Cypher answer.

Starts the embedded graph server (left running, so ``ddikg query`` works afterwards) and the fixture
site standing in for Yimaitong (on a fixed port, so drug URLs are stable and a second demo changes
nothing), runs the build-kg flow on it — training a model on the repository's sample corpus when the
home has none — and prints what interacts with 布美他尼片.
"""

from __future__ import annotations

from typing import Any

from flows.cliutil import console
from flows.config import Settings

DEMO_DRUG = "布美他尼片"

# The fixture site is on loopback and ours: no politeness delay is owed to it.
DEMO_OVERRIDES: dict[str, Any] = {"crawl": {"download_delay": 0.0, "autothrottle": False}}

EXPLORE = """\
Explore further:
  ddikg query interactions --param drug=华法林钠片      # a named query (see `ddikg query --help`)
  ddikg graph status                                     # the embedded graph server
  ddikg build-kg --base-url {base_url}   # after `python -m crawler.fixture_site --port {port}`
  Cypher (FalkorDB: `redis-cli -p {graph_port} -a "$(cat {pw})" GRAPH.QUERY {graph} "<cypher>"`, or Neo4j Browser):
    MATCH (a:Drug)-[r]->(b:Drug {{name: '{drug}'}}) RETURN a.name, type(r), r.label_zh, r.evidence
    MATCH (a:Drug)-[r:CONTRAINDICATION]->(b:Drug) RETURN a.name, b.name LIMIT 20
  ddikg graph stop                                       # when you are done"""


def interactions_of(settings: Settings, drug: str) -> list[dict[str, Any]]:
    """Rows of the loader's named query for a drug's interactions (both directions)."""
    from kg_loader.api import run_query

    return run_query(settings, "interactions", {"drug": drug})


def print_interactions(drug: str, rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(title=f"What interacts with {drug}", show_lines=False)
    cols = list(rows[0].keys()) if rows else ["(no rows)"]
    for c in cols:
        table.add_column(str(c), overflow="fold")
    for r in rows:
        table.add_row(*[_cell(r.get(c)) for c in cols])
    console.print(table)


def _cell(v: Any) -> str:
    if isinstance(v, list):
        return "\n".join(str(x) for x in v[:3]) + (f"\n(+{len(v) - 3} more)" if len(v) > 3 else "")
    return "" if v is None else str(v)


def run_demo(settings: Settings, *, port: int | None = None, retrain: bool = False):
    """Run the demo on ``settings.home``; returns the build-kg run summary."""
    from crawler.fixture_site.server import FixtureSite

    from flows.build_kg import build_kg
    from flows.flow_cli import print_summary
    from kg_loader.server import EmbeddedGraphServer

    port = port or settings.flows.demo_port
    if not settings.graph.uses_neo4j:
        status = EmbeddedGraphServer(settings).start()
        console.print(f"[green]graph server[/] running at {status['address']} (data in {status['data_dir']})")
    with FixtureSite(port=port) as site:
        console.print(f"[green]fixture site[/] (stands in for Yimaitong) at {site.base_url}")
        summary = build_kg(base_url=site.base_url, retrain=retrain or None, home=str(settings.home),
                           overrides=DEMO_OVERRIDES, progress=True)
        base_url = site.base_url
    print_summary(summary)
    console.print(summary.headline())
    rows = interactions_of(settings, DEMO_DRUG)
    print_interactions(DEMO_DRUG, rows)
    console.print(EXPLORE.format(base_url=base_url, port=port, graph_port=settings.graph.port,
                                 pw=settings.graph_dir / "password", graph=settings.graph.graph, drug=DEMO_DRUG))
    return summary
