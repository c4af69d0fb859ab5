"""Markdown artifacts a build-kg run leaves in Prefect: crawl, corpus, evaluation, load, run summary.

The builders are plain functions (text in, text out) so they are tested without Prefect; ``publish``
attaches one to the current flow run under a stable key, so the UI shows each key's history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ddikg.flows.summary import BuildSummary, ModelReport


def md_table(rows: Iterable[Mapping[str, Any]] | Iterable[tuple[str, Any]], header: tuple[str, str] = ("", "")) -> str:
    rows = list(rows)
    if rows and isinstance(rows[0], Mapping):
        cols = list(rows[0].keys())
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(_cell(r.get(c)) for c in cols) + " |" for r in rows]  # type: ignore[union-attr]
        return "\n".join(lines)
    lines = [f"| {header[0]} | {header[1]} |", "|---|---|"]
    lines += [f"| {_cell(k)} | {_cell(v)} |" for k, v in rows]  # type: ignore[misc]
    return "\n".join(lines)


def _cell(v: Any) -> str:
    if isinstance(v, float):
        v = f"{v:.4g}"
    return str("" if v is None else v).replace("|", "\\|").replace("\n", " ")


def crawl_markdown(crawl: Mapping[str, Any], base_url: str | None) -> str:
    keep = [(k, v) for k, v in crawl.items() if not isinstance(v, (list, dict)) or k == "errors"]
    return f"# Crawl summary\n\nSite: `{base_url or 'profile default'}`\n\n" + md_table(keep, ("field", "value"))


def corpus_markdown(per_drug: Mapping[str, int], statements: int, boilerplate: int, rejected: int) -> str:
    top = sorted(per_drug.items(), key=lambda kv: -kv[1])[:30]
    return ("# Corpus statistics\n\n"
            + md_table([("drugs segmented", len(per_drug)), ("statements", statements),
                        ("boilerplate (not for the model)", boilerplate), ("rejected lines", rejected)],
                       ("", "count"))
            + "\n\n## Statements per drug\n\n" + md_table(top, ("drug", "statements")))


def evaluation_markdown(report: ModelReport, candidate: Mapping[str, Any] | None,
                        current: Mapping[str, Any] | None) -> str:
    rows = []
    for task in ("ner", "re", "re_no_nec"):
        for name, ev in (("candidate", candidate), ("current", current)):
            m = (ev or {}).get(task, {}).get("micro") if ev else None
            if m:
                rows.append({"model": name, "task": task, "P": m.get("p"), "R": m.get("r"), "F1": m.get("f1")})
    verdict = ("promoted" if report.promoted else "kept the current model") if report.trained else "not trained"
    return (f"# Model evaluation\n\nCandidate `{report.model_key}`: **{verdict}** — {report.reason}\n\n"
            + (md_table(rows) if rows else "(no evaluation)"))


def load_markdown(load: Mapping[str, Any], sources: int) -> str:
    keys = ["added", "updated", "removed", "unchanged", "rejected"]
    rows = [(k, load.get(k, 0)) for k in keys] + [(k, v) for k, v in load.items()
                                                  if k not in keys and not isinstance(v, (list, dict))]
    return (f"# Graph load\n\nRefreshed the edges of {sources} source drug(s).\n\n"
            + md_table(rows, ("edges", "count")))


def run_markdown(s: BuildSummary) -> str:
    rows = [("run", s.run_id), ("graph", s.graph), ("model", s.model.model_key if s.model else "-"),
            ("drugs crawled", s.drugs_crawled), ("drugs processed", len(s.drugs_processed)),
            ("statements", s.statements), ("triples", s.triples)]
    rows += [(f"edges {k}", s.load.get(k, 0)) for k in ("added", "updated", "removed", "unchanged")]
    rows += [(f"{k} s", round(v, 2)) for k, v in s.seconds.items()]
    return ("# build-kg run\n\n" + s.headline() + "\n\n" + md_table(rows, ("", "")))


def publish(key: str, markdown: str, description: str) -> None:
    """Attach ``markdown`` to the running flow (no-op outside a Prefect run)."""
    from prefect.artifacts import create_markdown_artifact
    from prefect.context import FlowRunContext, TaskRunContext

    if FlowRunContext.get() is None and TaskRunContext.get() is None:
        return
    create_markdown_artifact(markdown=markdown, key=key, description=description)
