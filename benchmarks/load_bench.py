"""Loading benchmark: synthetic DDI triples with provenance into the embedded FalkorDB server.

Not a test: it prints figures and ratios. It starts its own server (free loopback port, temporary
directory), writes N distinct triples over D drugs as JSONL (a ~45-character Chinese sentence, source
drug, URL, score, model id, timestamp per line) and measures, in this one process against that one
server, each into an empty graph and by wall clock from the file to a saved snapshot:

Wall time on a shared machine depends on what else runs, so the client's CPU time and the server's
(``INFO cpu``) are recorded too; both sides work serially (the client, then the server), so their sum
is what an idle machine would take, and the ratios are also given on it.

1. **baseline**: read the file (orjson), one row per line with the same properties the loader writes,
   a plain batched ``UNWIND $rows AS r MERGE (s:Drug …) MERGE (o:Drug …) MERGE (s)-[e:T]->(o) SET e.…``
   per relationship type (the ``Drug.name`` index created beforehand, untimed), one batch after the
   other, parameters encoded exactly as the loader's (:meth:`FalkorBackend._command_text`, orjson),
   then ``SAVE``;
2. **load**: ``kg_loader.api.load_triples`` — what ``ddikg load`` runs: read and check every line,
   read the graph state, plan, write in one MULTI/EXEC transaction under the load lock, ``SAVE``;
3. **reload**: the same file again, with a new run id (what ``ddikg load`` does without
   ``--run-id``) and with the same run id.

Baseline and load alternate ``--repeats`` times; the ratios are taken pair by pair and the median is
printed: load rel/s ÷ baseline rel/s, and reload time ÷ first-load time. One more load is timed
phase by phase (read + check, graph state + plan, write, SAVE). The machine is usually shared, so the
load average is recorded before and after every measurement::

    python benchmarks/load_bench.py                       # 100,000 triples, 3 repeats
    python benchmarks/load_bench.py --n 20000 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson  # noqa: E402

from benchmarks.common import git_commit, write_json  # noqa: E402
from ddikg.config import load_settings  # noqa: E402
from ddikg.kg_loader import statements as S  # noqa: E402
from ddikg.kg_loader.api import load_triples  # noqa: E402
from ddikg.kg_loader.backends import FalkorBackend, Statement  # noqa: E402
from ddikg.kg_loader.loader import gc_paused, plan_load  # noqa: E402
from ddikg.kg_loader.plan import read_triples  # noqa: E402
from ddikg.kg_loader.server import EmbeddedGraphServer  # noqa: E402
from ddikg.labels import BY_ZH, RELATION_TYPES  # noqa: E402

# The same properties as the loader's edges (statements.ROW_PROPERTIES, label_zh per type).
_SET = ", ".join(f"e.{p} = {S.col(p)}" for p in S.ROW_PROPERTIES)
PLAIN_MERGE = {rt.graph: f"""
UNWIND $rows AS r
MERGE (s:Drug {{name: {S.col('s')}}})
MERGE (o:Drug {{name: {S.col('o')}}})
MERGE (s)-[e:{rt.graph}]->(o)
SET e.label_zh = '{rt.zh}', {_SET}
""" for rt in RELATION_TYPES}


def synthetic_triples(n: int, n_drugs: int, seed: int = 7) -> list[dict]:
    """``n`` distinct (subject, type, object) triples over ``n_drugs`` drugs, with provenance."""
    rng = random.Random(seed)
    drugs = [f"药物{i:05d}" for i in range(n_drugs)]
    seen: set[tuple[int, int, int]] = set()
    out = []
    while len(out) < n:
        s, o, t = rng.randrange(n_drugs), rng.randrange(n_drugs), rng.randrange(len(RELATION_TYPES))
        if s == o or (s, t, o) in seen:
            continue
        seen.add((s, t, o))
        rt = RELATION_TYPES[t]
        out.append({
            "subject": drugs[s], "predicate": rt.zh, "object": drugs[o], "score": round(rng.uniform(0.5, 1.0), 4),
            "evidence": f"{drugs[o]}@与{drugs[s]}合用时，{rt.zh}作用，应注意监测并调整剂量（第{len(out)}句）",
            "source_drug": drugs[o], "source_url": f"https://drugs.example.org/drug/{o}",
            "model_id": "iser-bench", "extracted_at": "2026-11-01T02:00:00+00:00",
        })
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_avg() -> float:
    return round(os.getloadavg()[0], 2)


def baseline(b: FalkorBackend, path: Path, batch_size: int, run_id: str) -> None:
    """Plain batched MERGE + SET, from the file to a saved snapshot (no checks, no plan)."""
    by_type: dict[str, list[list]] = {}
    with path.open("rb") as fh:
        for raw in fh:
            t = orjson.loads(raw)
            src = t.get("source_drug") or t["object"]
            s, o = t["subject"], t["object"]
            row = [s, o, [t["evidence"]], [src], [t.get("source_url") or ""], [t["score"]], t["score"],
                   t["model_id"], t["extracted_at"], t["extracted_at"], run_id, [src] if src not in (s, o) else []]
            by_type.setdefault(BY_ZH[t["predicate"]].graph, []).append(row)
    conn = b.db.connection
    for typ, rows in by_type.items():
        for i in range(0, len(rows), batch_size):
            text = b._command_text(Statement(PLAIN_MERGE[typ], {"rows": rows[i:i + batch_size]}))
            conn.execute_command("GRAPH.QUERY", b.graph_name, text, "--compact")
    conn.save()


def server_cpu(settings) -> float:
    """CPU seconds the server process has used (all threads): unlike wall time, not stretched by
    other processes on a shared machine."""
    with FalkorBackend.from_settings(settings) as b:
        info = b.db.connection.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def edge_count(b: FalkorBackend) -> int:
    return b.run("MATCH ()-[e]->() RETURN count(e) AS n")[0]["n"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="triples (distinct relationships)")
    ap.add_argument("--drugs", type=int, default=5_000, help="distinct drug names")
    ap.add_argument("--repeats", type=int, default=3, help="baseline/load pairs")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "load_bench.json",
                    help="where the figures are written as JSON")
    args = ap.parse_args()
    cmd = "python benchmarks/load_bench.py " + " ".join(sys.argv[1:])
    figures: dict = {"command": cmd.strip(), "commit": git_commit(), "n": args.n, "drugs": args.drugs,
                     "cpus": os.cpu_count(), "load_avg_start": list(os.getloadavg()), "runs": []}

    tmp = Path(tempfile.mkdtemp(prefix="ddikg-bench-"))
    settings = load_settings(home=tmp, graph={"port": free_port()})
    server = EmbeddedGraphServer(settings)
    server.start()
    bs = settings.graph.batch_size
    figures["batch_size"] = bs

    def graph(name: str):
        return load_settings(home=tmp, graph={"port": settings.graph.port, "graph": name})

    try:
        rows = synthetic_triples(args.n, args.drugs)
        path = tmp / "triples.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        print(f"{args.n:,} triples over {args.drugs:,} drugs, {path.stat().st_size / 1e6:.1f} MB JSONL; "
              f"FalkorDB at {settings.graph.host}:{settings.graph.port}; load average {os.getloadavg()}")
        for rep in range(args.repeats):
            run: dict = {}
            g = graph(f"plain-{rep}")
            with FalkorBackend.from_settings(g) as b:
                b.ensure_schema()
                la = load_avg()
                c0, s0 = time.process_time(), server_cpu(g)
                t0 = time.perf_counter()
                baseline(b, path, bs, "bench-1")
                run["baseline_s"] = round(time.perf_counter() - t0, 3)
                run["baseline_cpu_s"] = {"client": round(time.process_time() - c0, 3),
                                         "server": round(server_cpu(g) - s0, 3)}
                run["baseline_load"] = [la, load_avg()]
                assert edge_count(b) == args.n
                b.graph.delete()
            g = graph(f"load-{rep}")
            la = load_avg()
            c0, s0 = time.process_time(), server_cpu(g)
            t0 = time.perf_counter()
            s = load_triples(g, path, run_id="bench-1")
            run["load_s"] = round(time.perf_counter() - t0, 3)
            run["load_cpu_s"] = {"client": round(time.process_time() - c0, 3), "server": round(server_cpu(g) - s0, 3)}
            run["load_load"] = [la, load_avg()]
            assert s.added == args.n, s
            for key, rid in (("reload_new_run_s", "bench-2"), ("reload_same_run_s", "bench-2")):
                la = load_avg()
                c0, s0 = time.process_time(), server_cpu(g)
                t0 = time.perf_counter()
                s = load_triples(g, path, run_id=rid)
                run[key] = round(time.perf_counter() - t0, 3)
                run[key[:-2] + "_cpu_s"] = {"client": round(time.process_time() - c0, 3),
                                            "server": round(server_cpu(g) - s0, 3)}
                run[key[:-2] + "_load"] = [la, load_avg()]
                assert s.unchanged == args.n and s.added == s.updated == s.removed == 0, s
            with FalkorBackend.from_settings(g) as b:
                assert edge_count(b) == args.n
                assert b.run("MATCH ()-[e]->() WHERE e.run_id <> 'bench-2' RETURN count(e) AS n")[0]["n"] == 0
                b.graph.delete()
            run["load_vs_baseline"] = round(run["baseline_s"] / run["load_s"], 3)
            # Both sides are serial (client work, then the server's), so client + server CPU is what
            # an otherwise idle machine would take: the ratio that does not depend on the load.
            cpu = {k: sum(run[k + "_cpu_s"].values()) for k in ("baseline", "load", "reload_new_run", "reload_same_run")}
            run["cpu_load_vs_baseline"] = round(cpu["baseline"] / cpu["load"], 3)
            run["cpu_reload_new_run_vs_load"] = round(cpu["reload_new_run"] / cpu["load"], 3)
            run["cpu_reload_same_run_vs_load"] = round(cpu["reload_same_run"] / cpu["load"], 3)
            run["reload_new_run_vs_load"] = round(run["reload_new_run_s"] / run["load_s"], 3)
            run["reload_same_run_vs_load"] = round(run["reload_same_run_s"] / run["load_s"], 3)
            figures["runs"].append(run)
            print(f"[{rep + 1}/{args.repeats}] baseline MERGE+SET {run['baseline_s']:6.2f} s "
                  f"({args.n / run['baseline_s']:,.0f} rel/s) | load {run['load_s']:6.2f} s "
                  f"({args.n / run['load_s']:,.0f} rel/s) -> {run['load_vs_baseline']:.2f}x | reload: new run id "
                  f"{run['reload_new_run_s']:.2f} s ({run['reload_new_run_vs_load']:.2f} of the load), same run id "
                  f"{run['reload_same_run_s']:.2f} s ({run['reload_same_run_vs_load']:.2f}) | load avg "
                  f"{run['baseline_load'][0]}-{run['reload_same_run_load'][1]}\n      CPU s (client+server): baseline "
                  f"{run['baseline_cpu_s']}, load {run['load_cpu_s']} -> {run['cpu_load_vs_baseline']:.2f}x; reload "
                  f"{run['cpu_reload_new_run_vs_load']:.2f} / {run['cpu_reload_same_run_vs_load']:.2f} of the load")

        # Where a load's time goes (one more load, phase by phase, as load_triples_into runs them).
        g = graph("phases")
        with FalkorBackend.from_settings(g) as b:
            b.ensure_schema()
            b.durable = False
            with b.load_lock(wait_s=10, lease_s=g.graph.lock_lease_s) as lease:
                with gc_paused():  # as load_triples_into: read, plan and write with the collector paused
                    t0 = time.perf_counter()
                    r = read_triples(path, trusted=lambda d: set(), digested=set())  # an empty graph
                    t1 = time.perf_counter()
                    _, stmts = plan_load(b, r, "bench-1", bs)
                    t2 = time.perf_counter()
                    b.write_atomic(stmts, fence=lease)
                    t3 = time.perf_counter()
                b.db.connection.save()
                t4 = time.perf_counter()
            assert edge_count(b) == args.n
            b.graph.delete()
        figures["phases_s"] = {"read_check": round(t1 - t0, 3), "state_plan": round(t2 - t1, 3),
                               "write": round(t3 - t2, 3), "save": round(t4 - t3, 3)}
        print("load phase by phase: " + ", ".join(f"{k} {v:.2f} s" for k, v in figures["phases_s"].items()))

        med = {k: statistics.median(r[k] for r in figures["runs"])
               for k in ("baseline_s", "load_s", "reload_new_run_s", "reload_same_run_s", "load_vs_baseline",
                         "reload_new_run_vs_load", "reload_same_run_vs_load", "cpu_load_vs_baseline",
                         "cpu_reload_new_run_vs_load", "cpu_reload_same_run_vs_load")}
        figures["median"] = med
        figures["load_avg_end"] = list(os.getloadavg())
        print(f"median of {args.repeats}: load / baseline MERGE+SET = {med['load_vs_baseline']:.2f}x "
              f"(target >= 1.5); reload / load = {med['reload_new_run_vs_load']:.2f} with a new run id, "
              f"{med['reload_same_run_vs_load']:.2f} with the same (target <= 0.5); by CPU seconds (client + "
              f"server): {med['cpu_load_vs_baseline']:.2f}x, {med['cpu_reload_new_run_vs_load']:.2f}, "
              f"{med['cpu_reload_same_run_vs_load']:.2f}")
        print(f"load average at the end: {os.getloadavg()}")
        write_json(args.out, figures)
        print(f"figures -> {args.out}")
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
