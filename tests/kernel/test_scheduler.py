"""The durable scheduler: due jobs run once, survive restarts, retry with backoff, scale with due work."""

import asyncio
import time
from datetime import timedelta

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from kernel.consumer import is_infrastructure_error
from kernel.db import make_engine, make_sessionmaker, transaction
from kernel.scheduler import ManualClock, Scheduler, cancel, schedule
from tests.kernel.plans import generic_plan

SCHEMA = "tickets"


@pytest.fixture
async def sessionmaker(clean, database_url):
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


def make_scheduler(sessionmaker, clock, handlers, **kw):
    return Scheduler(service=SCHEMA, schema=SCHEMA, sessionmaker=sessionmaker, handlers=handlers, clock=clock, **kw)


async def add(sessionmaker, kind, key, due_at, payload=None, replace=True):
    async with transaction(sessionmaker) as session:
        await schedule(session, SCHEMA, kind=kind, key=key, due_at=due_at, payload=payload, replace=replace)


async def effects(sessionmaker):
    async with sessionmaker() as session:
        rows = await session.execute(text("SELECT record_id FROM tickets.audit_event ORDER BY id"))
        return [r[0] for r in rows]


async def record_effect(session, job):
    """A real effect in the same transaction as the job's completion."""
    await session.execute(
        text("INSERT INTO tickets.audit_event (actor, action, record_type, record_id) VALUES ('scheduler', 'breach', 'ticket', :k)"),
        {"k": job.key},
    )


async def test_runs_only_due_jobs_once_in_due_order(sessionmaker):
    clock = ManualClock()
    t0 = clock.now()
    await add(sessionmaker, "sla.breach", "T-2", t0 + timedelta(hours=2))
    await add(sessionmaker, "sla.breach", "T-1", t0 + timedelta(hours=1))
    await add(sessionmaker, "sla.breach", "T-3", t0 + timedelta(days=3))
    sched = make_scheduler(sessionmaker, clock, {"sla.breach": record_effect})
    assert await sched.run_due() == 0
    clock.advance(timedelta(hours=2))
    assert await sched.run_due() == 2
    assert await sched.run_due() == 0
    assert await effects(sessionmaker) == ["T-1", "T-2"]


async def test_survives_restart_and_scheduling_twice_is_harmless(sessionmaker):
    clock = ManualClock()
    due = clock.now() + timedelta(minutes=5)
    await add(sessionmaker, "reminder", "child-1:BCG:1", due)
    await add(sessionmaker, "reminder", "child-1:BCG:1", due, replace=False)
    clock.advance(timedelta(minutes=10))
    # A brand-new scheduler (a restarted process) finds the job in the database.
    assert await make_scheduler(sessionmaker, clock, {"reminder": record_effect}).run_due() == 1
    assert await effects(sessionmaker) == ["child-1:BCG:1"]


async def test_reschedule_and_cancel_by_business_key(sessionmaker):
    clock = ManualClock()
    await add(sessionmaker, "offer.timeout", "booking-9", clock.now() + timedelta(minutes=1))
    await add(sessionmaker, "offer.timeout", "booking-9", clock.now() + timedelta(hours=1))  # moved
    await add(sessionmaker, "offer.timeout", "booking-10", clock.now() + timedelta(minutes=1))
    async with transaction(sessionmaker) as session:
        assert await cancel(session, SCHEMA, kind="offer.timeout", key="booking-10")
    sched = make_scheduler(sessionmaker, clock, {"offer.timeout": record_effect})
    clock.advance(timedelta(minutes=30))
    assert await sched.run_due() == 0
    clock.advance(timedelta(hours=1))
    assert await sched.run_due() == 1
    assert await effects(sessionmaker) == ["booking-9"]


async def test_failure_rolls_back_the_effect_and_retries_with_backoff(sessionmaker):
    clock = ManualClock()
    calls = {"n": 0}

    async def flaky(session, job):
        calls["n"] += 1
        await record_effect(session, job)  # written, then rolled back with the failure
        if calls["n"] < 3:
            raise RuntimeError("SMS gateway down")

    await add(sessionmaker, "notify", "n-1", clock.now())
    sched = make_scheduler(sessionmaker, clock, {"notify": flaky})
    assert await sched.run_due() == 1
    assert await effects(sessionmaker) == []
    assert await sched.run_due() == 0  # backing off: not due yet
    clock.advance(timedelta(seconds=5))
    await sched.run_due()
    clock.advance(timedelta(seconds=10))
    await sched.run_due()
    assert calls["n"] == 3
    assert await effects(sessionmaker) == ["n-1"]


async def test_gives_up_after_max_attempts_and_keeps_the_error(sessionmaker):
    clock = ManualClock()

    async def broken(session, job):
        raise ValueError("template missing")

    await add(sessionmaker, "notify", "n-2", clock.now())
    sched = make_scheduler(sessionmaker, clock, {"notify": broken}, max_attempts=2)
    await sched.run_due()
    clock.advance(timedelta(hours=2))
    await sched.run_due()
    clock.advance(timedelta(days=1))
    assert await sched.run_due() == 0
    async with sessionmaker() as session:
        row = (await session.execute(text("SELECT attempts, last_error, failed_at FROM tickets.scheduled_job"))).one()
    assert row.attempts == 2 and "template missing" in row.last_error and row.failed_at is not None


async def test_recurring_job_reschedules_itself(sessionmaker):
    clock = ManualClock()

    async def daily(session, job):
        await record_effect(session, job)
        return job.due_at + timedelta(days=1)

    await add(sessionmaker, "digest", "daily", clock.now())
    sched = make_scheduler(sessionmaker, clock, {"digest": daily})
    for _ in range(3):
        assert await sched.run_due() == 1
        clock.advance(timedelta(days=1))
    assert len(await effects(sessionmaker)) == 3


async def test_concurrent_schedulers_never_run_a_job_twice(sessionmaker):
    clock = ManualClock()
    for i in range(300):
        await add(sessionmaker, "sla.breach", f"T-{i}", clock.now() - timedelta(seconds=i))

    async def slow_effect(session, job):
        await record_effect(session, job)
        await asyncio.sleep(0)

    schedulers = [make_scheduler(sessionmaker, clock, {"sla.breach": slow_effect}, batch_size=20) for _ in range(4)]
    ran = await asyncio.gather(*(s.run_due() for s in schedulers))
    assert sum(ran) == 300
    done = await effects(sessionmaker)
    assert len(done) == len(set(done)) == 300


async def test_the_claim_reads_only_due_rows_even_under_a_generic_plan(sessionmaker, database_url):
    """Cost proportional to due jobs, whichever plan PostgreSQL caches: the scheduler's exact claim
    statement, prepared and forced to a generic plan (what asyncpg's statement cache gets after five
    runs), on a table of 50,000 jobs not yet due, reads the few due rows through the due index."""
    async with transaction(sessionmaker) as session:
        await session.execute(text(
            "INSERT INTO tickets.scheduled_job (kind, key, due_at) "
            "SELECT 'future', 'k' || g, now() + interval '1 hour' + (g || ' seconds')::interval "
            "FROM generate_series(1, 50000) g"
        ))
        await session.execute(text(
            "INSERT INTO tickets.scheduled_job (kind, key, due_at) "
            "SELECT 'work', 'due' || g, now() - interval '1 minute' FROM generate_series(1, 5) g"
        ))
        await session.execute(text("ANALYZE tickets.scheduled_job"))
        db_now = (await session.execute(text("SELECT now()"))).scalar_one()
    for clock in (None, ManualClock(db_now)):  # the database's now(), and a test clock
        sched = make_scheduler(sessionmaker, clock, {"work": record_effect}, batch_size=100)
        compiled = sched._claim.compile(dialect=sessionmaker.kw["bind"].dialect)
        values = {"me": sched.worker_id, "lease": sched.lease_seconds, "now": sched._now_param(),
                  "kinds": list(sched.handlers)}
        conn = await asyncpg.connect(database_url)
        try:
            plan = await generic_plan(conn, str(compiled), [values[name] for name in compiled.positiontup or ()])
        finally:
            await conn.close()
        assert "Seq Scan" not in plan.scans["scheduled_job"], plan.text
        assert plan.rows_read["scheduled_job"] <= 20, plan.text  # 5 due rows, each read twice (claim, update)
    assert await sched.run_due() == 5  # and the statement is the one that runs


async def test_each_job_commits_on_its_own(sessionmaker):
    """A job that fails does not roll back the effects of the jobs that ran before it in the batch."""
    clock = ManualClock()
    for key in ("A", "B", "C"):
        await add(sessionmaker, "work", key, clock.now())

    async def flaky(session, job):
        if job.key == "B":
            raise RuntimeError("receiver said no")
        await record_effect(session, job)

    sched = make_scheduler(sessionmaker, clock, {"work": flaky})
    assert await sched.run_due() == 3
    assert await effects(sessionmaker) == ["A", "C"]
    async with sessionmaker() as session:
        left = (await session.execute(text("SELECT key, attempts FROM tickets.scheduled_job"))).all()
    assert [(r.key, r.attempts) for r in left] == [("B", 1)]


async def test_due_times_use_the_database_clock(sessionmaker):
    """Without a test clock, "due" means due by the database's now(), whatever this host's clock says."""
    async with sessionmaker() as session:
        db_now = (await session.execute(text("SELECT now()"))).scalar_one()
    await add(sessionmaker, "work", "past", db_now - timedelta(seconds=1))
    await add(sessionmaker, "work", "future", db_now + timedelta(hours=1))
    sched = make_scheduler(sessionmaker, None, {"work": record_effect})
    assert await sched.due_count() == 1
    assert await sched.run_due() == 1
    assert await effects(sessionmaker) == ["past"]


async def test_a_paused_workers_leased_jobs_are_taken_over(sessionmaker):
    """Worker A claims jobs (lease committed) and stops; once the lease expires worker B runs them,
    and A, resuming, cannot run a job it lost."""
    clock = ManualClock()
    for key in ("J1", "J2"):
        await add(sessionmaker, "work", key, clock.now())
    a = make_scheduler(sessionmaker, clock, {"work": record_effect}, lease_seconds=0.3)
    b = make_scheduler(sessionmaker, clock, {"work": record_effect}, lease_seconds=30)
    claimed_by_a = await a._claim_batch()  # A leases both, then is "paused" before running them
    assert len(claimed_by_a) == 2
    assert await b.run_due() == 0  # the lease holds
    await asyncio.sleep(0.4)
    assert await b.run_due() == 2  # expired: B takes over
    for job, now in claimed_by_a:  # A wakes up and tries the jobs it had claimed
        await a._run_claimed(job, now)
    assert sorted(await effects(sessionmaker)) == ["J1", "J2"]


async def test_a_job_statement_that_gets_no_answer_is_given_up_and_the_job_runs_again(sessionmaker):
    """A job's statement gets no answer (here: ``pg_sleep(3)`` the first time; in life a stopped
    backend or a half-open connection, where the server's statement timeout never fires).  Before,
    the scheduler waited as long as the server did.  With ``statement_timeout`` the connection is
    ended and the job counts as not done; once its lease expires it runs again: one effect."""
    clock = ManualClock()
    await add(sessionmaker, "work", "S1", clock.now())
    runs: list[str] = []

    async def stalls_once(session, job):
        runs.append(job.key)
        if len(runs) == 1:
            await session.execute(text("SELECT pg_sleep(3)"))
        await record_effect(session, job)

    sched = make_scheduler(sessionmaker, clock, {"work": stalls_once}, statement_timeout=0.5, lease_seconds=0.3)
    started = time.monotonic()
    with pytest.raises(Exception) as given_up:
        await sched.run_due()
    assert time.monotonic() - started < 2.5
    assert is_infrastructure_error(given_up.value)
    assert await effects(sessionmaker) == []
    # Runs again once its lease has expired and the abandoned server session has ended (it holds the
    # job's row lock until its sleep returns: the server notices the vanished client only then).
    ran, give_up = 0, time.monotonic() + 10
    while not ran and time.monotonic() < give_up:
        await asyncio.sleep(0.2)
        ran = await sched.run_due()
    assert ran == 1
    assert await effects(sessionmaker) == ["S1"]
    assert runs == ["S1", "S1"]


async def test_sessions_expire_when_stuck(database_url):
    """Every kernel connection carries the timeouts that free a stuck session's locks."""
    from kernel.db import session_settings

    engine = make_engine(database_url, server_settings=session_settings(
        statement_timeout=0.2, idle_in_transaction_timeout=0.3))
    try:
        async with engine.connect() as conn:
            shown = {name: (await conn.execute(text(f"SHOW {name}"))).scalar_one() for name in (
                "idle_in_transaction_session_timeout", "statement_timeout", "tcp_keepalives_idle")}
            assert shown == {"idle_in_transaction_session_timeout": "300ms", "statement_timeout": "200ms",
                             "tcp_keepalives_idle": "30"}
            with pytest.raises(Exception, match="statement timeout"):
                await conn.execute(text("SELECT pg_sleep(1)"))
        async with engine.connect() as conn:
            await conn.begin()
            await conn.execute(text("SELECT 1"))
            await asyncio.sleep(0.6)  # idle inside a transaction: the server ends the session
            with pytest.raises(DBAPIError, match=r"idle-in-transaction|terminat|closed"):
                await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
