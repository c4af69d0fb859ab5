"""The named queries of ``queries.cypher``: parsing the file and checking a call's parameters."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

_HEADER = re.compile(r"^//\s*(name|params):\s*(.*)$")


@dataclass(frozen=True)
class NamedQuery:
    name: str
    params: tuple[str, ...]
    description: str
    cypher: str


@cache
def named_queries() -> dict[str, NamedQuery]:
    text = resources.files("ddikg.kg_loader").joinpath("queries.cypher").read_text(encoding="utf-8")
    out: dict[str, NamedQuery] = {}
    for block in re.split(r"(?m)^(?=//\s*name:)", text)[1:]:
        name, params, desc, body = "", (), [], []
        for line in block.splitlines():
            m = _HEADER.match(line.strip())
            if m and not body:
                if m.group(1) == "name":
                    name = m.group(2).strip()
                else:
                    params = tuple(p.strip() for p in m.group(2).split(",") if p.strip())
            elif line.startswith("//") and not body:
                desc.append(line.lstrip("/ ").strip())
            elif line.strip():
                body.append(line)
        cypher = "\n".join(body).strip().rstrip(";")
        out[name] = NamedQuery(name, params, " ".join(desc), cypher)
    return out


def get_query(name: str) -> NamedQuery:
    qs = named_queries()
    if name not in qs:
        raise KeyError(f"no query named {name!r}; known: {', '.join(sorted(qs))}")
    return qs[name]


def coerce_params(q: NamedQuery, params: dict[str, object]) -> dict[str, object]:
    """Check that exactly the declared parameters are given; numbers typed as text become ints."""
    missing = [p for p in q.params if p not in params]
    extra = [p for p in params if p not in q.params]
    if missing or extra:
        raise ValueError(f"query {q.name!r} takes {', '.join(q.params) or 'no parameters'}"
                         + (f"; missing {', '.join(missing)}" if missing else "")
                         + (f"; unknown {', '.join(extra)}" if extra else ""))
    out: dict[str, object] = {}
    for k, v in params.items():
        if isinstance(v, str) and re.fullmatch(r"-?\d+", v.strip()):
            out[k] = int(v)
        else:
            out[k] = v
    return out
