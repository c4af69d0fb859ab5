"""Loading benchmark: 100,000 synthetic DDI triples with provenance into the embedded FalkorDB server.

Not a test: it prints figures. Run it when the machine is otherwise idle::

    python benchmarks/load_bench.py                 # 100,000 triples, batch 5,000, row-by-row on 2,000
    python benchmarks/load_bench.py --n 20000 --batch-sizes 1000,5000,10000

It starts its own server (free loopback port, temporary directory) and measures, each into an empty
graph:

1. the loader (``load_triples_into``: read + validate the JSONL, plan, node-first batched writes)
   end to end and phase by phase, both as one MULTI/EXEC transaction (``atomic``, the default) and
   batch by batch with the next batch encoded while the server runs the current one (``batched``);
   The write phase is timed without the RDB snapshot the loader takes after each load (``SAVE``,
   timed separately; the end-to-end figure includes it). Wall time on a shared machine depends on
   what else runs, so the client's and the server's CPU seconds are measured too, and the rate an
   idle machine would reach is estimated from them (atomic: client then server; batched: overlapped).
2. the plain batched ``UNWIND $rows ... MERGE`` of nodes + relationship + properties (the baseline);
3. row by row, one ``MERGE`` statement per triple (what common KG tutorials do), on a subset;

and prints relationships/s and the ratios. The CPU load average is printed too: figures taken while
other processes compete for the cores are not comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ddikg.config import load_settings  # noqa: E402
from ddikg.kg_loader import statements as S  # noqa: E402
from ddikg.kg_loader.backends import FalkorBackend  # noqa: E402
from ddikg.kg_loader.loader import gc_paused, load_triples_into, plan_statements, read_existing  # noqa: E402
from ddikg.kg_loader.plan import plan_refresh, read_triples  # noqa: E402
from ddikg.kg_loader.server import EmbeddedGraphServer  # noqa: E402
from ddikg.labels import RELATION_TYPES  # noqa: E402

# Same positional rows and encoding as the loader's: the comparison is of the statements only.
_SET = ", ".join(f"e.{p} = {S.col(p)}" for p in S.ROW_PROPERTIES)
PLAIN_MERGE = {rt.graph: f"""
UNWIND $rows AS r
MERGE (s:Drug {{name: {S.col('s')}}})
MERGE (o:Drug {{name: {S.col('o')}}})
MERGE (s)-[e:{rt.graph}]->(o)
SET e.label_zh = '{rt.zh}', {_SET}
""" for rt in RELATION_TYPES}
ROW_BY_ROW = {t: q.replace("UNWIND $rows AS r\n", "WITH $r AS r\n") for t, q in PLAIN_MERGE.items()}


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


def server_cpu(b: FalkorBackend) -> float:
    """CPU seconds the server process has used (all threads): contention-proof, unlike wall time."""
    info = b.db.connection.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>10,.0f} rel/s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000, help="triples (distinct relationships)")
    ap.add_argument("--drugs", type=int, default=5_000, help="distinct drug names")
    ap.add_argument("--batch-sizes", default="5000", help="rows per UNWIND batch, comma-separated")
    ap.add_argument("--row-by-row", type=int, default=2_000, help="subset size for the one-statement-per-row run")
    ap.add_argument("--refresh-sources", type=int, default=1_000,
                    help="source drugs re-extracted in the nightly-refresh run (10%% of their sentences changed, "
                         "50 triples dropped)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "load_bench.json",
                    help="where the figures are written as JSON")
    args = ap.parse_args()
    figures: dict = {"n": args.n, "drugs": args.drugs, "cpus": os.cpu_count(), "load_before": os.getloadavg(),
                     "loader": {}}

    tmp = Path(tempfile.mkdtemp(prefix="ddikg-bench-"))
    settings = load_settings(home=tmp, graph={"port": free_port()})
    server = EmbeddedGraphServer(settings)
    server.start()
    print(f"FalkorDB at {settings.graph.host}:{settings.graph.port}, data {tmp}; load average {os.getloadavg()}")
    try:
        rows = synthetic_triples(args.n, args.drugs)
        path = tmp / "triples.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        print(f"{args.n:,} triples over {args.drugs:,} drugs, {path.stat().st_size / 1e6:.1f} MB JSONL")
        best_loader = 0.0
        sizes = [int(x) for x in args.batch_sizes.split(",")]
        for bs in sizes:
            for atomic in (True, False):
                mode = "atomic" if atomic else "batched"
                g = load_settings(home=tmp, graph={"port": settings.graph.port, "graph": f"e2e-{mode}-{bs}",
                                                   "batch_size": bs})
                with FalkorBackend.from_settings(g) as b:
                    t0 = time.perf_counter()
                    summary = load_triples_into(b, g, path, run_id="bench", atomic=atomic)
                    total = time.perf_counter() - t0
                    assert summary.added == args.n, summary
                    if not (atomic and bs == sizes[0]):  # that one gets the nightly refresh below
                        b.graph.delete()
                # The phases, into a fresh graph: same plan, same statements, same write path.
                g2 = load_settings(home=tmp, graph={"port": settings.graph.port, "graph": f"w-{mode}-{bs}",
                                                    "batch_size": bs})
                with FalkorBackend.from_settings(g2) as b:
                    b.ensure_schema()
                    b.durable = False  # the snapshot is timed on its own below
                    with gc_paused():  # as load_triples_into does
                        t0 = time.perf_counter()
                        run = read_triples(path)
                        t1 = time.perf_counter()
                        existing = read_existing(b, run, bs)
                        plan = plan_refresh(run, existing, "bench")
                        stmts = plan_statements(run, plan, bs)
                        t2 = time.perf_counter()
                    c0, s0 = time.process_time(), server_cpu(b)
                    (b.write_atomic if atomic else b.write_batches)(stmts)
                    t3 = time.perf_counter()
                    client_cpu, srv_cpu = time.process_time() - c0, server_cpu(b) - s0
                    # Idle-machine estimate from CPU time: atomic = client then server (serial);
                    # batched = the two overlap, bounded by the busier side.
                    idle = client_cpu + srv_cpu if atomic else max(client_cpu, srv_cpu)
                    ts = time.perf_counter()
                    b.db.connection.save()
                    save_s = time.perf_counter() - ts
                    n_rel = b.run("MATCH ()-[e]->() RETURN count(e) AS n")[0]["n"]
                    assert n_rel == args.n, n_rel
                    b.graph.delete()  # later SAVEs would write this graph too
                best_loader = max(best_loader, args.n / (t3 - t2))
                figures["loader"][f"{mode}-{bs}"] = {
                    "end_to_end_s": round(total, 3), "read_validate_s": round(t1 - t0, 3),
                    "state_plan_s": round(t2 - t1, 3), "write_s": round(t3 - t2, 3),
                    "end_to_end_rel_per_s": round(args.n / total), "write_rel_per_s": round(args.n / (t3 - t2)),
                    "save_s": round(save_s, 3), "write_client_cpu_s": round(client_cpu, 3), "write_server_cpu_s": round(srv_cpu, 3),
                    "write_rel_per_cpu_s_idle_estimate": round(args.n / idle)}
                print(f"loader {mode:>7} batch {bs:>6}: end to end {total:6.2f} s {rate(args.n, total)} | read+validate "
                      f"{t1 - t0:.2f} s, read state+plan {t2 - t1:.2f} s, write {t3 - t2:.2f} s {rate(args.n, t3 - t2)}"
                      f" (CPU: client {client_cpu:.2f} s, server {srv_cpu:.2f} s -> {rate(args.n, idle)} on idle cores)"
                      f", then SAVE {save_s:.2f} s")

        # Baseline: plain batched MERGE (rows prepared in advance, as the loader's plan is).
        run = read_triples(path)
        plan = plan_refresh(run, {}, "bench")
        by_type = plan.create
        g = load_settings(home=tmp, graph={"port": settings.graph.port, "graph": "plain"})
        bs = sizes[0]
        with FalkorBackend.from_settings(g) as b:
            b.ensure_schema()
            t0 = time.perf_counter()
            c0, s0 = time.process_time(), server_cpu(b)
            for typ, trows in by_type.items():
                for i in range(0, len(trows), bs):
                    b.run(PLAIN_MERGE[typ], {"rows": S.edge_values(trows[i:i + bs])})
            plain = time.perf_counter() - t0
            plain_cpu = time.process_time() - c0 + server_cpu(b) - s0
            assert b.run("MATCH ()-[e]->() RETURN count(e) AS n")[0]["n"] == args.n
        print(f"plain batched MERGE, batch {bs}: {plain:6.2f} s {rate(args.n, plain)} (CPU client+server "
              f"{plain_cpu:.2f} s -> {rate(args.n, plain_cpu)} on idle cores)")

        # A nightly refresh on the loaded 100k graph: some source drugs re-extracted.
        g = load_settings(home=tmp, graph={"port": settings.graph.port, "graph": f"e2e-atomic-{bs}", "batch_size": bs})
        chosen = set(sorted({r["source_drug"] for r in rows})[: args.refresh_sources])
        nightly = [dict(r) for r in rows if r["source_drug"] in chosen]
        for r in nightly[::10]:
            r["evidence"] += "（修订）"
        nightly = nightly[:-50]
        npath = tmp / "nightly.jsonl"
        npath.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in nightly), encoding="utf-8")
        with FalkorBackend.from_settings(g) as b:
            t0 = time.perf_counter()
            rs = load_triples_into(b, g, npath, run_id="nightly")
            refresh_s = time.perf_counter() - t0
        print(f"nightly refresh of {len(chosen):,} source drugs ({len(nightly):,} triples) on the {args.n:,}-edge "
              f"graph, atomic: {refresh_s:.2f} s — {rs.line()}")
        figures["refresh"] = {"sources": len(chosen), "triples": len(nightly), "seconds": round(refresh_s, 3),
                              "added": rs.added, "updated": rs.updated, "removed": rs.removed,
                              "unchanged": rs.unchanged}

        # Row by row on a subset.
        subset = [(typ, r) for typ, trows in by_type.items() for r in trows][: args.row_by_row]
        g = load_settings(home=tmp, graph={"port": settings.graph.port, "graph": "rowbyrow"})
        with FalkorBackend.from_settings(g) as b:
            b.ensure_schema()
            t0 = time.perf_counter()
            for typ, r in subset:
                b.graph.query(ROW_BY_ROW[typ], {"r": S.edge_values([r])[0]})
            rbr = time.perf_counter() - t0
        rbr_rate = len(subset) / rbr
        print(f"row by row ({len(subset):,} statements): {rbr:6.2f} s {rbr_rate:>10,.0f} rel/s")
        print(f"best loader write phase vs row by row: {best_loader / rbr_rate:.0f}x; vs plain batched MERGE: "
              f"{best_loader / (args.n / plain):.2f}x")
        print(f"load average after: {os.getloadavg()}")
        figures.update(plain_merge_s=round(plain, 3), plain_merge_rel_per_s=round(args.n / plain),
                       plain_merge_cpu_s=round(plain_cpu, 3),
                       row_by_row_n=len(subset), row_by_row_rel_per_s=round(rbr_rate),
                       write_vs_row_by_row=round(best_loader / rbr_rate, 1),
                       write_vs_plain_merge=round(best_loader / (args.n / plain), 2), load_after=os.getloadavg())
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        print(f"figures -> {args.out}")
    finally:
        server.stop()
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
