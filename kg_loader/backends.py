"""Two thin backends under one Cypher layer: the embedded FalkorDB server and real Neo4j.

A backend supplies only what differs between the servers: connecting, passing parameters, running
a list of statements as one all-or-nothing transaction (with retries on transient errors) and the
schema DDL dialect. Every loading and query statement is shared (:mod:`ddikg.kg_loader.statements`,
``queries.cypher``).
"""

from __future__ import annotations

import json
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ddikg.config import Settings


@dataclass(frozen=True)
class Statement:
    """One parameterised statement of a write transaction (usually one ``UNWIND $rows`` batch)."""

    cypher: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return len(self.params.get("rows", ()))


class GraphUnavailable(RuntimeError):
    """The graph server cannot be reached (not started, wrong port or password)."""


class Backend(ABC):
    """What the loader and the queries need from a graph server."""

    name: str = "?"

    @abstractmethod
    def run(self, cypher: str, params: dict[str, Any] | None = None, *, read_only: bool = False) -> list[dict]:
        """One statement in its own (auto-committed, retried) transaction; rows as dicts."""

    @abstractmethod
    def write_atomic(self, statements: Sequence[Statement],
                     on_statement: Callable[[int], None] | None = None) -> int:
        """Run ``statements`` as one transaction: all visible together or none at all.

        ``on_statement(i)`` is called after statement ``i`` was sent (progress, and the tests' way to
        kill the loader between batches). Returns the number of server messages (batches) sent.
        """

    @abstractmethod
    def write_batches(self, statements: Sequence[Statement],
                      on_statement: Callable[[int], None] | None = None) -> int:
        """Run ``statements`` in order, each its own transaction, as fast as the server takes them.

        For first loads into an empty scope: a crash leaves the batches sent so far visible, and a
        rerun (which re-plans) completes the same graph. Same ``on_statement`` and return value.
        """

    @abstractmethod
    def schema_statements(self) -> list[str]:
        """The DDL (unique keys / indexes on Drug.name and Disease.name) in this server's dialect."""

    @abstractmethod
    def ensure_schema(self) -> None:
        """Run :meth:`schema_statements` so that running it again is harmless."""

    @abstractmethod
    def is_transient(self, exc: BaseException) -> bool:
        """Whether retrying the whole operation after ``exc`` may succeed."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- FalkorDB


def _falkor_value(v: Any) -> Any:
    """Plain Python values from a FalkorDB result cell (nodes/edges become their property maps)."""
    from falkordb import Edge, Node

    if isinstance(v, (Node, Edge)):
        return dict(v.properties)
    if isinstance(v, list):
        return [_falkor_value(x) for x in v]
    return v


def encode_param(value: Any) -> str:
    """A parameter value as a Cypher literal for FalkorDB's parameter header.

    The official client's encoder (``falkordb.helpers.stringify_param_value``) walks every value in
    Python, which costs more than the server's work on 5,000-row batches. Lists (``$rows``) are
    encoded instead by orjson in C (3x faster than ``json.dumps``, measured): a JSON array is a
    Cypher list literal and a JSON string a Cypher string with the same escapes. A JSON map is not a
    Cypher map (its keys are quoted), so maps with identifier keys get their quotes removed (``{"k":``
    and ``,"k":`` cannot occur inside a JSON string, where every quote is escaped); edge rows are
    positional lists and need none of that. Anything else goes through the client's encoder: text
    that would need ``\\uXXXX``/``\\b``/``\\f`` escapes, integers beyond 64 bits, and any list
    where orjson wrote ``null`` for a NaN or infinity.
    """
    import orjson
    from falkordb.helpers import stringify_param_value

    if isinstance(value, list) and value:
        try:
            raw = orjson.dumps(value)
        except TypeError:  # dates, huge integers, ...: the client knows how
            return stringify_param_value(value)
        if b"\\u" in raw or b"\\b" in raw or b"\\f" in raw or (b"null" in raw and _has_nonfinite(value)):
            return stringify_param_value(value)
        text = raw.decode("utf-8")
        if '{"' in text and all(isinstance(r, dict) for r in value):
            keys = set().union(*value)
            if all(isinstance(k, str) and k.isidentifier() and k.isascii() for k in keys):
                for k in keys:
                    text = text.replace('{"' + k + '":', "{" + k + ":").replace(',"' + k + '":', "," + k + ":")
        if '{"' not in text:  # no quoted key left (a nested map would keep one): valid Cypher
            return text
    return stringify_param_value(value)


def _has_nonfinite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return any(_has_nonfinite(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nonfinite(v) for v in value.values())
    return False


class FalkorBackend(Backend):
    """The embedded server through the official ``falkordb`` client (native protocol, never Bolt)."""

    name = "falkordb"

    def __init__(self, host: str, port: int, password: str, graph: str, *, retries: int = 3,
                 timeout: float = 300.0, durable: bool = True):
        import redis
        from falkordb import FalkorDB
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.graph_name = graph
        self.retries = retries
        self.durable = durable
        # Retries are ours (whole operations, re-planned), not the socket library's.
        try:  # the client already talks to the server here (it asks whether it is a cluster)
            self.db = FalkorDB(host=host, port=port, password=password, socket_timeout=timeout,
                               socket_connect_timeout=5.0, retry=Retry(NoBackoff(), 0))
        except redis.AuthenticationError as exc:
            raise GraphUnavailable(f"the graph server at {host}:{port} refused the password ({exc}); it is "
                                   "graph.password (DDIKG_GRAPH__PASSWORD) or <home>/graph/password") from exc
        except redis.ConnectionError as exc:
            raise GraphUnavailable(f"cannot reach the graph server at {host}:{port} ({exc}); start it with "
                                   f"`ddikg graph start`") from exc
        self.graph = self.db.select_graph(graph)

    @classmethod
    def from_settings(cls, settings: Settings) -> FalkorBackend:
        from ddikg.kg_loader.server import server_password

        g = settings.graph
        return cls(g.host, g.port, server_password(settings), g.graph, retries=g.retries)

    def is_transient(self, exc: BaseException) -> bool:
        import redis

        return isinstance(exc, (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError))

    def _unavailable(self, exc: BaseException) -> GraphUnavailable:
        pool = self.db.connection.connection_pool.connection_kwargs
        return GraphUnavailable(f"cannot reach the graph server at {pool.get('host')}:{pool.get('port')} "
                                f"({exc}); start it with `ddikg graph start`")

    def run(self, cypher: str, params: dict[str, Any] | None = None, *, read_only: bool = False) -> list[dict]:
        import redis

        for attempt in range(self.retries + 1):
            try:
                res = (self.graph.ro_query if read_only else self.graph.query)(cypher, params)
                break
            except redis.AuthenticationError as exc:
                raise self._unavailable(exc) from exc
            except Exception as exc:
                if not self.is_transient(exc) or attempt == self.retries:
                    if isinstance(exc, redis.ConnectionError):
                        raise self._unavailable(exc) from exc
                    raise
                time.sleep(0.2 * 2**attempt)
        header = [h[1] if isinstance(h, (list, tuple)) else h for h in res.header]
        return [dict(zip(header, (_falkor_value(v) for v in row), strict=True)) for row in res.result_set]

    @staticmethod
    def _command_text(st: Statement) -> str:
        """The statement with its parameters in a ``CYPHER k=v ...`` header (how FalkorDB takes them)."""
        if not st.params:
            return st.cypher
        head = " ".join(f"{k}={encode_param(v)}" for k, v in st.params.items())
        return f"CYPHER {head} {st.cypher}"

    def write_atomic(self, statements: Sequence[Statement],
                     on_statement: Callable[[int], None] | None = None) -> int:
        """MULTI/EXEC: the server queues every batch and runs them back to back at EXEC, so other
        clients see all of them or none; a client that dies before EXEC leaves no trace."""
        import redis

        if not statements:
            return 0
        pipe = self.db.connection.pipeline(transaction=True)
        for i, st in enumerate(statements):
            pipe.execute_command("GRAPH.QUERY", self.graph_name, self._command_text(st), "--compact")
            if on_statement is not None:
                on_statement(i)
        try:
            pipe.execute(raise_on_error=True)
            if self.durable:
                # A committed load is on disk when this returns (RDB snapshot; see server.py for why
                # not AOF). A crash before SAVE ends loses the load, and the caller's retry redoes it.
                self.db.connection.save()
        except redis.ConnectionError as exc:
            raise self._unavailable(exc) from exc
        return len(statements)

    def write_batches(self, statements: Sequence[Statement],
                      on_statement: Callable[[int], None] | None = None) -> int:
        """Pipelined: batch i+1 is encoded while the server runs batch i (one connection, one batch
        in flight), so client and server work overlap instead of adding up."""
        import redis

        if not statements:
            return 0
        pool = self.db.connection.connection_pool
        conn = pool.get_connection()
        try:
            pending = False
            for i, st in enumerate(statements):
                text = self._command_text(st)  # overlaps the server's work on the previous batch
                if pending:
                    self._reply(conn.read_response())
                conn.send_command("GRAPH.QUERY", self.graph_name, text, "--compact")
                pending = True
                if on_statement is not None:
                    on_statement(i)
            self._reply(conn.read_response())
            if self.durable:
                self.db.connection.save()
        except redis.ConnectionError as exc:
            conn.disconnect()
            raise self._unavailable(exc) from exc
        except BaseException:
            conn.disconnect()  # a reply may still be in flight: never hand this connection out again
            raise
        finally:
            pool.release(conn)
        return len(statements)

    @staticmethod
    def _reply(resp: Any) -> None:
        import redis

        if isinstance(resp, redis.ResponseError):
            raise resp

    def schema_statements(self) -> list[str]:
        return ["CREATE INDEX FOR (d:Drug) ON (d.name)", "CREATE INDEX FOR (x:Disease) ON (x.name)"]

    def ensure_schema(self) -> None:
        import redis

        # Range indexes only. No GRAPH.CONSTRAINT: FalkorDB runs write queries one at a time, so MERGE
        # on the key cannot race itself; a constraint would only add a check to every write (and
        # FalkorDB 4.16 logs its creation to an AOF twice, which breaks the replay if one is enabled).
        for ddl in self.schema_statements():
            try:
                self.graph.query(ddl)
            except redis.ResponseError as exc:
                if "already indexed" not in str(exc):
                    raise
            except redis.ConnectionError as exc:
                raise self._unavailable(exc) from exc

    def close(self) -> None:
        self.db.close()


# --------------------------------------------------------------------------- Neo4j


def _json_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, default=str).encode("utf-8"))


class Neo4jBackend(Backend):
    """Real Neo4j 5 through the official ``neo4j`` driver: ``execute_query`` for single statements,
    ``session.execute_write`` (a managed transaction the driver retries on transient errors) for
    loads.

    ``max_message_bytes`` splits every ``$rows`` batch further so that no message exceeds the budget;
    it exists for the tests, which talk to FalkorDB's experimental Bolt endpoint. Against Neo4j leave
    it unset: batches are sized by rows (``graph.batch_size``).
    """

    name = "neo4j"

    def __init__(self, uri: str, user: str, password: str | None, database: str | None = None, *,
                 max_message_bytes: int | None = None, max_retry_time: float = 30.0):
        import neo4j

        self.database = database
        self.max_message_bytes = max_message_bytes
        self.driver = neo4j.GraphDatabase.driver(uri, auth=(user, password or ""),
                                                 max_transaction_retry_time=max_retry_time)

    @classmethod
    def from_settings(cls, settings: Settings) -> Neo4jBackend:
        g = settings.graph
        pw = g.neo4j_password.get_secret_value() if g.neo4j_password else None
        return cls(g.neo4j_uri or "", g.neo4j_user, pw, g.neo4j_database)

    def is_transient(self, exc: BaseException) -> bool:
        from neo4j.exceptions import ServiceUnavailable, SessionExpired, TransientError

        return isinstance(exc, (TransientError, ServiceUnavailable, SessionExpired))

    def run(self, cypher: str, params: dict[str, Any] | None = None, *, read_only: bool = False) -> list[dict]:
        import neo4j
        from neo4j.exceptions import ServiceUnavailable

        try:
            records, _, _ = self.driver.execute_query(
                cypher, params or {}, database_=self.database,
                routing_=neo4j.RoutingControl.READ if read_only else neo4j.RoutingControl.WRITE)
        except ServiceUnavailable as exc:
            raise GraphUnavailable(f"cannot reach Neo4j ({exc})") from exc
        return [_neo4j_value(r.data()) for r in records]

    def _split(self, st: Statement) -> Iterator[Statement]:
        """``st`` itself, or its ``$rows`` cut so that each message stays under the byte budget."""
        rows = st.params.get("rows")
        if self.max_message_bytes is None or rows is None:
            yield st
            return
        fixed = _json_size({k: v for k, v in st.params.items() if k != "rows"}) + len(st.cypher.encode()) + 64
        chunk: list[Any] = []
        size = fixed
        for row in rows:
            n = _json_size(row) + 1
            if fixed + n > self.max_message_bytes:
                raise ValueError(f"one row is {n} bytes, over the {self.max_message_bytes}-byte message budget")
            if chunk and size + n > self.max_message_bytes:
                yield Statement(st.cypher, {**st.params, "rows": chunk})
                chunk, size = [], fixed
            chunk.append(row)
            size += n
        if chunk:
            yield Statement(st.cypher, {**st.params, "rows": chunk})

    def write_atomic(self, statements: Sequence[Statement],
                     on_statement: Callable[[int], None] | None = None) -> int:
        from neo4j.exceptions import ServiceUnavailable

        parts = [(i, part) for i, st in enumerate(statements) for part in self._split(st)]
        if not parts:
            return 0

        def work(tx: Any) -> None:
            # The driver calls this again from the start when a transient error rolls it back.
            last = -1
            for i, part in parts:
                tx.run(part.cypher, part.params).consume()
                if on_statement is not None and i != last:
                    on_statement(i)
                last = i

        try:
            with self.driver.session(database=self.database) as session:
                session.execute_write(work)
        except ServiceUnavailable as exc:
            raise GraphUnavailable(f"cannot reach Neo4j ({exc})") from exc
        return len(parts)

    def write_batches(self, statements: Sequence[Statement],
                      on_statement: Callable[[int], None] | None = None) -> int:
        from neo4j.exceptions import ServiceUnavailable

        sent = 0
        try:
            with self.driver.session(database=self.database) as session:
                for i, st in enumerate(statements):
                    for part in self._split(st):
                        session.execute_write(lambda tx, p=part: tx.run(p.cypher, p.params).consume())
                        sent += 1
                    if on_statement is not None:
                        on_statement(i)
        except ServiceUnavailable as exc:
            raise GraphUnavailable(f"cannot reach Neo4j ({exc})") from exc
        return sent

    def schema_statements(self) -> list[str]:
        return [
            "CREATE CONSTRAINT drug_name IF NOT EXISTS FOR (d:Drug) REQUIRE d.name IS UNIQUE",
            "CREATE CONSTRAINT disease_name IF NOT EXISTS FOR (x:Disease) REQUIRE x.name IS UNIQUE",
        ]

    def ensure_schema(self) -> None:
        for ddl in self.schema_statements():
            self.run(ddl)

    def close(self) -> None:
        self.driver.close()


def _neo4j_value(v: Any) -> Any:
    """Plain values from driver results (graph entities become property maps)."""
    from neo4j.graph import Node, Relationship

    if isinstance(v, (Node, Relationship)):
        return dict(v)
    if isinstance(v, dict):
        return {k: _neo4j_value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_neo4j_value(x) for x in v]
    return v


def backend_for(settings: Settings) -> Backend:
    """Neo4j when ``NEO4J_URI`` (``graph.neo4j_uri``) is set, else the embedded FalkorDB server."""
    if settings.graph.uses_neo4j:
        return Neo4jBackend.from_settings(settings)
    return FalkorBackend.from_settings(settings)
