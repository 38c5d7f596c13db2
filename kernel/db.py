"""Async SQLAlchemy engine on asyncpg, and the per-request session.

The request's session is opened lazily by the ``DbSession`` dependency and committed by
:class:`DbSessionMiddleware` *before* the response headers leave the process: if the commit
fails the client gets a 503 problem, never a 200 for a write that did not happen.
Services and repositories never commit.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util import greenlet_spawn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kernel.errors import ServiceUnavailable, problem_response


def asyncpg_dsn(url: str) -> str:
    """The plain ``postgresql://`` DSN asyncpg itself accepts."""
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def sqlalchemy_url(url: str) -> str:
    return "postgresql+asyncpg://" + asyncpg_dsn(url)[len("postgresql://") :]


def session_settings(
    *,
    statement_timeout: float | None = None,
    idle_in_transaction_timeout: float | None = 60.0,
    keepalive_idle: int = 30,
) -> dict[str, str]:
    """PostgreSQL session settings that expire stuck sessions (passed as asyncpg ``server_settings``).

    * ``idle_in_transaction_session_timeout``: a client that stops inside a transaction (paused,
      partitioned, a bug that forgets to commit) loses its session and its row locks, so SKIP
      LOCKED claims (relay, scheduler) and inbox inserts of other replicas can proceed.
    * ``statement_timeout`` per role of the connection (HTTP requests and workers, the relay;
      none for CLI tools and migrations); a bulk import lifts it for its own transaction.
    * ``tcp_keepalives_*`` and ``tcp_user_timeout``: the server notices a vanished client within
      about a minute instead of the kernel's two hours, and drops its locks.
    """
    values = {
        "tcp_keepalives_idle": str(keepalive_idle),
        "tcp_keepalives_interval": "10",
        "tcp_keepalives_count": "3",
        "tcp_user_timeout": str((keepalive_idle + 30) * 1000),
    }
    if idle_in_transaction_timeout:
        values["idle_in_transaction_session_timeout"] = f"{int(idle_in_transaction_timeout * 1000)}"
    if statement_timeout:
        values["statement_timeout"] = f"{int(statement_timeout * 1000)}"
    return values


def make_engine(
    url: str, *, pool_size: int = 20, max_overflow: int = 0, server_settings: dict[str, str] | None = None
) -> AsyncEngine:
    # No pool_pre_ping: on asyncpg it is three round trips per checkout (BEGIN, ";", ROLLBACK), 3 of
    # the 7 a one-query request made, each a loopback send that costs the process CPU.
    # _refuse_closed_connection checks the same thing without a round trip.
    engine = create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        json_serializer=lambda obj: json.dumps(obj, default=str),
        connect_args={"server_settings": server_settings if server_settings is not None else session_settings()},
    )
    event.listen(engine.sync_engine.pool, "checkout", _refuse_closed_connection)
    return engine


def _refuse_closed_connection(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """A pooled connection the server has closed (restart, crash, ``pg_terminate_backend``, an idle
    timeout) is replaced on checkout, not handed to a request: asyncpg saw the server's FIN or RST
    while the connection sat in the pool, so ``is_closed()`` says so without asking the server.
    DisconnectionError makes the pool discard it and connect afresh (up to three times).  A peer
    that vanished without a word is noticed by the TCP keepalives (session_settings), and a
    statement that fails on a dead connection invalidates it as before."""
    driver = record.driver_connection
    if driver is not None and driver.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A unit of work outside HTTP (consumers, scheduler, CLI): commit on success, roll back on error."""
    async with sessionmaker() as session:
        async with session.begin():
            yield session


@asynccontextmanager
async def bounded_transaction(
    sessionmaker: async_sessionmaker[AsyncSession], *, commit_timeout: float | None,
    statement_timeout: float | None = None,
) -> AsyncIterator[AsyncSession]:
    """:func:`transaction` whose every database wait is bounded (workers: consumers, scheduler).

    asyncpg sends COMMIT without a timeout, and SQLAlchemy's statements too: a server that stops
    answering (a stopped or frozen backend, a half-open connection, a synchronous standby gone) held
    the worker for good.  Each statement gets at most ``statement_timeout`` seconds (longer than the
    server's own ``statement_timeout``, which normally answers first; this covers a server that
    cannot answer; the transaction's BEGIN goes with its first statement), and the COMMIT or
    ROLLBACK at most ``commit_timeout``.  A wait that runs out ends the connection from outside (no
    cancellation inside SQLAlchemy, whose rollback would wait on the same connection): the statement
    fails as a lost connection, and the caller treats the transaction as not done.  The server rolls
    back what it had not committed; if it did commit, the retry finds the work done (the inbox, the
    job's lease).
    """
    async with sessionmaker() as session:
        watchdog: asyncio.TimerHandle | None = None
        disarm: Callable[[], None] = _nothing
        try:
            async with session.begin():
                driver = (await (await session.connection()).get_raw_connection()).driver_connection
                if statement_timeout:
                    disarm = _bound_statements(session, driver, statement_timeout)
                try:
                    yield session
                except BaseException:
                    disarm()
                    if commit_timeout:  # the ROLLBACK that follows
                        watchdog = _arm(driver, commit_timeout, "ROLLBACK")
                    raise
                disarm()
                if commit_timeout:
                    watchdog = _arm(driver, commit_timeout, "COMMIT")
        finally:
            disarm()
            if watchdog is not None:
                watchdog.cancel()


def _nothing() -> None:
    return None


def _bound_statements(session: AsyncSession, driver: Any, seconds: float) -> Callable[[], None]:
    """Arm a timer around each statement of ``session``'s connection (SQLAlchemy events on that
    Connection alone, gone with it): a statement not answered within ``seconds`` ends the connection.
    A statement that fails leaves its timer to the next statement (a savepoint's rollback is one)
    or to the end of the transaction, which cancel it: SQLAlchemy 2 has no per-connection error event."""
    connection = session.sync_session.connection()  # the transaction's, already checked out
    pending: list[asyncio.TimerHandle] = []

    def disarm(*_: Any) -> None:
        while pending:
            pending.pop().cancel()

    def arm(*_: Any) -> None:
        disarm()
        pending.append(_arm(driver, seconds, "a statement"))

    event.listen(connection, "before_cursor_execute", arm)
    event.listen(connection, "after_cursor_execute", disarm)
    return disarm


def _arm(driver: Any, seconds: float, what: str) -> asyncio.TimerHandle:
    return asyncio.get_running_loop().call_later(seconds, _end_unanswered, driver, seconds, what)


def _end_unanswered(driver: Any, seconds: float, what: str) -> None:
    if driver is not None and not driver.is_closed():
        logging.getLogger("gramsetu.db").warning(
            "%s got no answer within %.1fs; the connection is ended and the transaction counts as not done",
            what, seconds)
        driver.terminate()


@asynccontextmanager
async def raw_transaction(engine: AsyncEngine, *, begin: str = "BEGIN") -> AsyncIterator[asyncpg.Connection]:
    """A transaction on a pooled asyncpg connection without an ORM session, for a measured hot path
    (raw asyncpg is allowed only there; the caller's comment gives the figure).

    The session's own machinery (the session, the checkout through it, BEGIN and COMMIT through
    SQLAlchemy's greenlet bridge) is a large part of a short write's CPU.  ``begin`` may carry
    ``SET LOCAL`` statements in the same round trip.  Committed before the caller answers, as
    :class:`DbSessionMiddleware` does: a commit that fails is a 503, never a 2xx.  An exception inside
    rolls back and propagates.  A connection left inside a transaction (a failed ROLLBACK) or closed
    is discarded, never pooled."""
    proxied = await engine.raw_connection()
    conn: asyncpg.Connection = proxied.driver_connection  # type: ignore[assignment]
    try:
        await conn.execute(begin)
        try:
            yield conn
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        try:
            await conn.execute("COMMIT")
        except Exception as exc:
            raise _commit_failed() from exc
    finally:
        if conn.is_closed() or conn.is_in_transaction():
            await greenlet_spawn(proxied.invalidate)
        await greenlet_spawn(proxied.close)


_SESSION_KEY = "gramsetu.db_session"


async def _request_session(request: Request) -> AsyncSession:
    state: dict[str, Any] = request.scope.setdefault("state", {})
    session = state.get(_SESSION_KEY)
    if session is None:
        session = request.app.state.sessionmaker()
        state[_SESSION_KEY] = session
    return session  # type: ignore[no-any-return]


DbSession = Annotated[AsyncSession, Depends(_request_session)]


class DbSessionMiddleware:
    """Commit the request's session when the response starts with a status < 400, else roll back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # A copy per request, as uvicorn makes of the lifespan state: the session lives in it, and
        # asgi_lifespan (the in-process test harness) hands every request the same dict.
        state = scope["state"] = dict(scope.get("state", {}))
        finished = False
        replaced = False  # the commit failed and a 503 was sent instead of the app's response

        async def send_wrapper(message: Message) -> None:
            nonlocal finished, replaced
            if replaced:
                return
            if message["type"] == "http.response.start" and not finished:
                finished = True
                failure = await _finish(state.get(_SESSION_KEY), ok=message["status"] < 400)
                if failure is not None:
                    replaced = True
                    await failure(scope, receive, send)
                    return
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            session = state.pop(_SESSION_KEY, None)
            # A session the request asked for but never used (its work went to the statement pool) holds
            # nothing to roll back or release: closing it would still cost a greenlet round.
            if session is not None and (session.in_transaction() or session.identity_map):
                if not finished:
                    await session.rollback()
                await session.close()


async def _finish(session: AsyncSession | None, *, ok: bool) -> Callable[..., Awaitable[None]] | None:
    if session is None or not session.in_transaction():  # opened but never used (its work went elsewhere)
        return None
    if not ok:
        await session.rollback()
        return None
    try:
        await session.commit()
    except Exception:
        failure = _commit_failed()
        await session.rollback()
        return problem_response(failure)
    return None


def _commit_failed() -> ServiceUnavailable:
    """Logs the commit's failure (call it inside the ``except``) and gives the 503 a request answers."""
    logging.getLogger("gramsetu.db").exception("commit failed")
    return ServiceUnavailable("The change could not be saved; nothing was written. Retry the request.")
