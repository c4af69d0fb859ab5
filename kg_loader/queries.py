"""The named queries of ``queries.cypher``: parsing the file, checking a call's parameters, and the
query sections of ``docs/neo4j-browser.md`` (generated from the same file: ``python -m
ddikg.kg_loader.queries docs/neo4j-browser.md`` rewrites them).

A query's header lines: ``// name: NAME``, ``// params: a, limit:int`` (a parameter is a string unless
typed ``:int``), ``// example: a=华法林, limit=20`` (the values the Browser page shows), then its
description; the Cypher follows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

_HEADER = re.compile(r"^//\s*(name|params|example):\s*(.*)$")
_TYPES = {"str": str, "int": int}


@dataclass(frozen=True)
class NamedQuery:
    name: str
    params: tuple[str, ...]
    description: str
    cypher: str
    types: tuple[tuple[str, type], ...] = ()  # (param, str | int), in the order of ``params``
    example: tuple[tuple[str, str], ...] = ()  # (param, value as text)

    def param_type(self, param: str) -> type:
        return dict(self.types).get(param, str)


@cache
def named_queries() -> dict[str, NamedQuery]:
    text = resources.files("ddikg.kg_loader").joinpath("queries.cypher").read_text(encoding="utf-8")
    out: dict[str, NamedQuery] = {}
    for block in re.split(r"(?m)^(?=//\s*name:)", text)[1:]:
        name, types, example, desc, body = "", [], [], [], []
        for line in block.splitlines():
            m = _HEADER.match(line.strip())
            if m and not body:
                key, value = m.group(1), m.group(2).strip()
                if key == "name":
                    name = value
                elif key == "params":
                    for p in filter(None, (p.strip() for p in value.split(","))):
                        pname, _, ptype = p.partition(":")
                        types.append((pname.strip(), _TYPES[ptype.strip() or "str"]))
                else:
                    example = [tuple(x.strip() for x in e.split("=", 1)) for e in value.split(",") if "=" in e]
            elif line.startswith("//") and not body:
                desc.append(line.lstrip("/ ").strip())
            elif line.strip():
                body.append(line)
        cypher = "\n".join(body).strip().rstrip(";")
        out[name] = NamedQuery(name, tuple(p for p, _ in types), " ".join(desc), cypher, tuple(types),
                               tuple(example))  # type: ignore[arg-type]
    return out


def get_query(name: str) -> NamedQuery:
    qs = named_queries()
    if name not in qs:
        raise KeyError(f"no query named {name!r}; known: {', '.join(sorted(qs))}")
    return qs[name]


def coerce_params(q: NamedQuery, params: dict[str, object]) -> dict[str, object]:
    """Check that exactly the declared parameters are given, each of its declared type.

    Text is converted only for a parameter declared ``:int``; any other stays a string, so a drug
    named ``123`` is the string "123". Values that already have a type (from ``--param-json`` or
    Python) must match the declaration."""
    missing = [p for p in q.params if p not in params]
    extra = [p for p in params if p not in q.params]
    if missing or extra:
        raise ValueError(f"query {q.name!r} takes {', '.join(q.params) or 'no parameters'}"
                         + (f"; missing {', '.join(missing)}" if missing else "")
                         + (f"; unknown {', '.join(extra)}" if extra else ""))
    out: dict[str, object] = {}
    for k, v in params.items():
        want = q.param_type(k)
        if want is int and isinstance(v, str):
            if not re.fullmatch(r"[-+]?\d+", v.strip()):
                raise ValueError(f"query {q.name!r}: {k} must be an integer, not {v!r}")
            v = int(v)
        if want is int and (isinstance(v, bool) or not isinstance(v, int)):
            raise ValueError(f"query {q.name!r}: {k} must be an integer, not {v!r}")
        if want is str and not isinstance(v, str):
            raise ValueError(f"query {q.name!r}: {k} must be a string, not {v!r}")
        out[k] = v
    return out


# --------------------------------------------------------------------------- the Browser page

BROWSER_BEGIN = "<!-- queries: generated from kg_loader/queries.cypher; do not edit by hand -->"
BROWSER_END = "<!-- end of generated queries -->"


def browser_sections() -> str:
    """The Markdown of every named query as Neo4j Browser runs it (``:param`` lines, then the Cypher)."""
    parts = []
    for q in named_queries().values():
        example = dict(q.example)
        lines = []
        for p in q.params:
            if p not in example:
                raise ValueError(f"queries.cypher: query {q.name!r} has no example value for {p!r}")
            value = example[p] if q.param_type(p) is int else "'" + example[p].replace("'", "\\'") + "'"
            lines.append(f":param {p} => {value}")
        parts.append(f"## `{q.name}`\n\n{q.description}\n\n```cypher\n" + "\n".join([*lines, q.cypher]) + "\n```\n")
    return "\n".join(parts)


def render_browser_page(page: str) -> str:
    """``page`` with the text between the markers replaced by :func:`browser_sections`."""
    head, sep1, rest = page.partition(BROWSER_BEGIN)
    _, sep2, tail = rest.partition(BROWSER_END)
    if not (sep1 and sep2):
        raise ValueError("the page lacks the generated-queries markers")
    return f"{head}{BROWSER_BEGIN}\n\n{browser_sections()}\n{BROWSER_END}{tail}"


if __name__ == "__main__":
    import sys
    from pathlib import Path

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/neo4j-browser.md")
    target.write_text(render_browser_page(target.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"{target}: queries regenerated from queries.cypher")
