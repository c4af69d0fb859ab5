"""Two thin backends under one Cypher layer: the embedded FalkorDB server and real Neo4j.

A backend supplies only what differs between the servers: connecting, passing parameters, running
a list of statements as one all-or-nothing transaction (with retries on transient errors) and the
schema DDL dialect. Every loading and query statement is shared (:mod:`ddikg.kg_loader.statements`,
``queries.cypher``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import socket
import threading
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
    # A write whose returned rows the caller wants: the backend appends them here (as dicts).
    results: list[dict[str, Any]] | None = field(default=None, compare=False)

    @property
    def rows(self) -> int:
        return len(self.params.get("rows", ()))


class GraphUnavailable(RuntimeError):
    """The graph server cannot be reached (not started, wrong port or password)."""


class LockTimeout(RuntimeError):
    """Another load held the graph's load lock for longer than ``graph.lock_wait_s``."""


class LeaseLost(RuntimeError):
    """The load lock expired (or was taken over) before this load committed; nothing was written.
    Transient: the load acquires the lock again and re-plans from the graph."""


class Lease:
    """A held load lock: a random token the server stores under the lock's name, renewed by a daemon
    thread every third of the lease until released. ``held`` turns False when a renewal finds the
    token gone; :meth:`paused` stops renewals while a fenced write checks the token itself."""

    def __init__(self, token: str, lease_s: float, renew: Callable[[], bool]):
        self.token, self.lease_s, self._renew = token, lease_s, renew
        self.held = True
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ddikg-load-lease", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            with self._mutex:
                if self._stop.is_set():
                    return
                try:
                    ok = self._renew()
                except Exception:  # a dropped connection: the next renewal (or the fence) decides
                    continue
                if not ok:
                    self.held = False
                    return

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        with self._mutex:
            yield

    def check(self) -> None:
        if not self.held:
            raise LeaseLost("the load lock was lost (its lease ran out); the load is planned again")

    def stop(self) -> None:
        self._stop.set()
        with self._mutex:
            pass
        self._thread.join(timeout=5)


def lock_token() -> str:
    """``host:pid:random``: unique per load, and says who holds the lock."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(8)}"


def holder_is_dead(token: str) -> bool:
    """Whether ``token`` was taken by a process of this machine that has ended."""
    host, _, rest = token.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # a zombie (killed, not yet reaped) has ended too
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def _acquire_loop(try_acquire: Callable[[], bool], wait_s: float, what: str) -> None:
    deadline = time.monotonic() + wait_s
    delay = 0.05
    while not try_acquire():
        if time.monotonic() >= deadline:
            raise LockTimeout(f"another load holds {what}; waited {wait_s:g} s (graph.lock_wait_s)")
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


class Backend(ABC):
    """What the loader and the queries need from a graph server."""

    name: str = "?"
    # Whether new edges are sent in the factored form (statements.CREATE_GROUPED): worth it where the
    # server parses parameters as text (FalkorDB); Bolt parameters are binary, and the Bolt test
    # server cuts $rows by bytes, which a group of rows may exceed.
    factored_params: bool = False

    @abstractmethod
    def load_lock(self, *, wait_s: float, lease_s: float) -> contextlib.AbstractContextManager[Lease]:
        """Hold the graph's load lock (one writer at a time per graph, kept in the server itself):
        waits up to ``wait_s`` for it, keeps a lease of ``lease_s`` renewed, releases it on exit.
        Pass the lease to :meth:`write_atomic` (``fence=``) so a load whose lease ran out cannot commit."""

    @abstractmethod
    def run(self, cypher: str, params: dict[str, Any] | None = None, *, read_only: bool = False) -> list[dict]:
        """One statement in its own (auto-committed, retried) transaction; rows as dicts."""

    @abstractmethod
    def write_atomic(self, statements: Sequence[Statement],
                     on_statement: Callable[[int], None] | None = None, *, fence: Lease | None = None) -> int:
        """Run ``statements`` as one transaction: all visible together or none at all.

        ``on_statement(i)`` is called after statement ``i`` was sent (progress, and the tests' way to
        kill the loader between batches). With ``fence``, the transaction commits only while that
        lease still holds the load lock (else :class:`LeaseLost`, nothing written). Returns the
        number of server messages (batches) sent.
        """

    @abstractmethod
    def write_batches(self, statements: Sequence[Statement],
                      on_statement: Callable[[int], None] | None = None, *, fence: Lease | None = None) -> int:
        """Run ``statements`` in order, each its own transaction, as fast as the server takes them.

        For first loads into an empty scope: a crash leaves the batches sent so far visible, and a
        rerun (which re-plans) completes the same graph. Same ``on_statement`` and return value;
        with ``fence``, stops with :class:`LeaseLost` before the next batch once a renewal failed.
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
        if type(value[0]) is dict and '{"' in text and all(isinstance(r, dict) for r in value):
            keys = set().union(*value)
            if all(isinstance(k, str) and k.isidentifier() and k.isascii() for k in keys):
                for k in keys:
                    text = text.replace('{"' + k + '":', "{" + k + ":").replace(',"' + k + '":', "," + k + ":")
        if '{"' not in text:  # no quoted key left (a nested map would keep one): valid Cypher
            return text
    return stringify_param_value(value)


def _compact_rows(reply: Any) -> list[dict[str, Any]]:
    """Rows of a ``GRAPH.QUERY --compact`` reply with scalar columns: ``[header, rows, stats]``, each
    header entry ``[type, name]`` and each cell ``[type, value]`` (a write without RETURN: ``[stats]``)."""
    if not isinstance(reply, list) or len(reply) != 3:
        return []
    names = [_text(h[1]) for h in reply[0]]
    return [{n: _text(c[1]) if isinstance(c[1], bytes) else c[1] for n, c in zip(names, row, strict=True)}
            for row in reply[1]]


def _text(v: bytes | str | None) -> str | None:
    return v.decode() if isinstance(v, bytes) else v


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
    factored_params = True

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

        return isinstance(exc, (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, LeaseLost))

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

    # Load lock: a Redis key beside the graph, ``SET key token NX PX lease`` (redis-py's Lock), renewed
    # only while the token is still ours; released by compare-and-delete.
    def _lock_name(self) -> str:
        return f"ddikg:load-lock:{self.graph_name}"

    @contextlib.contextmanager
    def load_lock(self, *, wait_s: float, lease_s: float) -> Iterator[Lease]:
        import redis

        conn = self.db.connection
        lock = conn.lock(self._lock_name(), timeout=lease_s, blocking=False, thread_local=False)
        token = lock_token()

        def try_acquire() -> bool:
            if lock.acquire(token=token):
                return True
            # A holder on this machine that no longer runs (a killed loader) frees the lock at once
            # rather than after its lease; compare-and-delete, so only that dead holder's token goes.
            held = _text(conn.get(self._lock_name()))
            if held and holder_is_dead(held):
                conn.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
                          "else return 0 end", 1, self._lock_name(), held)
                return bool(lock.acquire(token=token))
            return False

        try:
            _acquire_loop(try_acquire, wait_s, f"the load lock of graph {self.graph_name!r}")
        except redis.ConnectionError as exc:
            raise self._unavailable(exc) from exc
        def renew() -> bool:
            try:
                lock.reacquire()
            except redis.exceptions.LockNotOwnedError:
                return False
            return True

        lease = Lease(_text(lock.local.token), lease_s, renew)
        try:
            yield lease
        finally:
            lease.stop()
            with contextlib.suppress(redis.RedisError):  # not ours any more: nothing to release
                lock.release()

    def _extend(self, fence: Lease) -> bool:
        """Reset the lease to its full length if the token is still ours (before a long write)."""
        script = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
                  "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end")
        return bool(self.db.connection.eval(script, 1, self._lock_name(), fence.token, int(fence.lease_s * 1000)))

    @staticmethod
    def _command_text(st: Statement) -> str:
        """The statement with its parameters in a ``CYPHER k=v ...`` header (how FalkorDB takes them)."""
        if not st.params:
            return st.cypher
        head = " ".join(f"{k}={encode_param(v)}" for k, v in st.params.items())
        return f"CYPHER {head} {st.cypher}"

    def write_atomic(self, statements: Sequence[Statement],
                     on_statement: Callable[[int], None] | None = None, *, fence: Lease | None = None) -> int:
        """MULTI/EXEC: the server queues every batch and runs them back to back at EXEC, so other
        clients see all of them or none; a client that dies before EXEC leaves no trace.

        Fenced: the lock key is WATCHed and checked to hold our token before MULTI, so EXEC is refused
        when the key changed or expired in between (Redis aborts a transaction whose watched key
        expired); renewals, which also touch the key, are paused meanwhile."""
        import redis

        if not statements:
            return 0
        with fence.paused() if fence is not None else contextlib.nullcontext():
            if fence is not None and not self._extend(fence):
                raise LeaseLost("the load lock was lost before the write; the load is planned again")
            pipe = self.db.connection.pipeline(transaction=True)
            try:
                if fence is not None:
                    pipe.watch(self._lock_name())
                    if _text(pipe.get(self._lock_name())) != fence.token:
                        raise LeaseLost("the load lock was taken over before the write")
                    pipe.multi()
                for i, st in enumerate(statements):
                    pipe.execute_command("GRAPH.QUERY", self.graph_name, self._command_text(st), "--compact")
                    if on_statement is not None:
                        on_statement(i)
                replies = pipe.execute(raise_on_error=True)
                for st, reply in zip(statements, replies[-len(statements):], strict=True):
                    if st.results is not None:
                        st.results[:] = _compact_rows(reply)
                if self.durable:
                    # A committed load is on disk when this returns (RDB snapshot; see server.py for why
                    # not AOF). A crash before SAVE ends loses the load, and the caller's retry redoes it.
                    self.db.connection.save()
            except redis.WatchError as exc:
                raise LeaseLost("the load lock expired or changed before EXEC; nothing was written") from exc
            except redis.ConnectionError as exc:
                raise self._unavailable(exc) from exc
            finally:
                pipe.reset()
        return len(statements)

    def write_batches(self, statements: Sequence[Statement],
                      on_statement: Callable[[int], None] | None = None, *, fence: Lease | None = None) -> int:
        """Pipelined: batch i+1 is encoded while the server runs batch i (one connection, one batch
        in flight), so client and server work overlap instead of adding up."""
        import redis

        if not statements:
            return 0
        pool = self.db.connection.connection_pool
        conn = pool.get_connection()
        try:
            pending: Statement | None = None
            for i, st in enumerate(statements):
                if fence is not None:
                    fence.check()
                text = self._command_text(st)  # overlaps the server's work on the previous batch
                if pending is not None:
                    self._reply(conn.read_response(), pending)
                conn.send_command("GRAPH.QUERY", self.graph_name, text, "--compact")
                pending = st
                if on_statement is not None:
                    on_statement(i)
            self._reply(conn.read_response(), pending)
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
    def _reply(resp: Any, st: Statement | None = None) -> None:
        import redis

        if isinstance(resp, redis.ResponseError):
            raise resp
        if st is not None and st.results is not None:
            st.results[:] = _compact_rows(resp)

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


NEO4J_SCHEMA: tuple[str, ...] = (
    "CREATE CONSTRAINT drug_name IF NOT EXISTS FOR (d:Drug) REQUIRE d.name IS UNIQUE",
    "CREATE CONSTRAINT disease_name IF NOT EXISTS FOR (x:Disease) REQUIRE x.name IS UNIQUE",
    "CREATE CONSTRAINT ddikg_load_lock IF NOT EXISTS FOR (l:DdikgLoadLock) REQUIRE l.name IS UNIQUE",
)


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

        return isinstance(exc, (TransientError, ServiceUnavailable, SessionExpired, LeaseLost))

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

    # Load lock: a (:DdikgLoadLock {name}) node (unique constraint in schema_statements) holding a token
    # and an expiry in server time. Every step first writes the node, which takes its write lock, so
    # concurrent acquirers are serialised before they compare the token; the fence is the same check
    # as the first statement of the load's own transaction, which then holds the node until commit.
    # The node is deleted on release, so a graph at rest has none.
    LOCK_NAME = "load"
    _ACQUIRE = """
    MERGE (l:DdikgLoadLock {name: $name})
    SET l.claimed = true
    WITH l
    WHERE l.token IS NULL OR l.expires < timestamp() OR l.token = $token
    SET l.token = $token, l.expires = timestamp() + $lease_ms
    RETURN l.token AS token
    """
    _RENEW = """
    MATCH (l:DdikgLoadLock {name: $name})
    SET l.claimed = true
    WITH l
    WHERE l.token = $token
    SET l.expires = timestamp() + $lease_ms
    RETURN l.token AS token
    """
    _RELEASE = """
    MATCH (l:DdikgLoadLock {name: $name})
    WHERE l.token = $token
    DELETE l
    """

    @contextlib.contextmanager
    def load_lock(self, *, wait_s: float, lease_s: float) -> Iterator[Lease]:
        from neo4j.exceptions import Neo4jError

        token = lock_token()
        params = {"name": self.LOCK_NAME, "token": token, "lease_ms": int(lease_s * 1000)}

        def step(cypher: str) -> bool:
            try:
                return bool(self.run(cypher, params))
            except Neo4jError as exc:  # e.g. the node deleted by its holder's release under us
                if self.is_transient(exc) or "not found" in str(exc).lower():
                    return False
                raise

        _acquire_loop(lambda: step(self._ACQUIRE), wait_s, "the graph's load lock (:DdikgLoadLock)")
        lease = Lease(token, lease_s, lambda: step(self._RENEW))
        try:
            yield lease
        finally:
            lease.stop()
            with contextlib.suppress(Exception):
                self.run(self._RELEASE, params)

    def _check_fence(self, tx: Any, fence: Lease | None) -> None:
        if fence is None:
            return
        params = {"name": self.LOCK_NAME, "token": fence.token, "lease_ms": int(fence.lease_s * 1000)}
        if not list(tx.run(self._RENEW, params)):
            raise LeaseLost("the load lock was lost before the write; nothing was written")

    @staticmethod
    def _run_part(tx: Any, part: Statement, st: Statement) -> None:
        res = tx.run(part.cypher, part.params)
        if st.results is None:
            res.consume()
        else:
            st.results.extend(_neo4j_value(r.data()) for r in res)

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
                     on_statement: Callable[[int], None] | None = None, *, fence: Lease | None = None) -> int:
        from neo4j.exceptions import ServiceUnavailable

        parts = [(i, part) for i, st in enumerate(statements) for part in self._split(st)]
        if not parts:
            return 0

        def work(tx: Any) -> None:
            # The driver calls this again from the start when a transient error rolls it back.
            self._check_fence(tx, fence)  # first: the transaction then holds the lock node to commit
            for st in statements:
                if st.results is not None:
                    st.results.clear()
            last = -1
            for i, part in parts:
                self._run_part(tx, part, statements[i])
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
                      on_statement: Callable[[int], None] | None = None, *, fence: Lease | None = None) -> int:
        from neo4j.exceptions import ServiceUnavailable

        sent = 0
        try:
            with self.driver.session(database=self.database) as session:
                for i, st in enumerate(statements):
                    if fence is not None:
                        fence.check()
                    if st.results is not None:
                        st.results.clear()
                    for part in self._split(st):
                        session.execute_write(lambda tx, p=part, st=st: self._run_part(tx, p, st))
                        sent += 1
                    if on_statement is not None:
                        on_statement(i)
        except ServiceUnavailable as exc:
            raise GraphUnavailable(f"cannot reach Neo4j ({exc})") from exc
        return sent

    def schema_statements(self) -> list[str]:
        return list(NEO4J_SCHEMA)

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
