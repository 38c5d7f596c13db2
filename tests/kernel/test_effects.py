"""External side effects: recorded as attempted with an idempotency key before they are sent."""

import pytest
from sqlalchemy import text

from kernel.db import make_engine, make_sessionmaker
from kernel.effects import EffectFailed, effect_status, give_up, perform_effect

SCHEMA = "tickets"


@pytest.fixture
async def engine(clean, database_url):
    engine = make_engine(database_url)
    yield engine
    await engine.dispose()


class Receiver:
    """A receiver that records every call it gets, by idempotency key."""

    def __init__(self, engine, fail_times: int = 0) -> None:
        self.engine = engine
        self.calls: list[str] = []
        self.fail_times = fail_times
        self.status_at_call: list[str | None] = []

    async def send(self, attempt):
        # What the sender's own database says at the moment the call leaves the process.
        status = await effect_status(self.engine, SCHEMA, attempt.key)
        self.status_at_call.append(status["status"] if status else None)
        self.calls.append(attempt.key)
        if len(self.calls) <= self.fail_times:
            raise ConnectionError("receiver unreachable")
        return {"receipt": f"r-{len(self.calls)}"}


async def test_attempt_is_committed_before_the_call_and_sent_once(engine):
    receiver = Receiver(engine)
    first = await perform_effect(engine, SCHEMA, kind="sms", key="sms:T-1:escalated", send=receiver.send,
                                 payload={"template": "escalated"})
    again = await perform_effect(engine, SCHEMA, kind="sms", key="sms:T-1:escalated", send=receiver.send)
    assert receiver.status_at_call == ["attempted"]  # recorded before the call left
    assert receiver.calls == ["sms:T-1:escalated"]
    assert first.sent_now and first.result == {"receipt": "r-1"}
    assert not again.sent_now and again.result == {"receipt": "r-1"}
    assert (await effect_status(engine, SCHEMA, "sms:T-1:escalated"))["status"] == "sent"


async def test_a_failed_send_is_retried_with_the_same_key_and_marked_uncertain(engine):
    receiver = Receiver(engine, fail_times=1)
    seen = []

    async def send(attempt):
        seen.append((attempt.attempt, attempt.uncertain))
        return await receiver.send(attempt)

    with pytest.raises(ConnectionError):
        await perform_effect(engine, SCHEMA, kind="webhook", key="hook:42", send=send)
    status = await effect_status(engine, SCHEMA, "hook:42")
    assert status["status"] == "attempted" and "unreachable" in status["last_error"]
    outcome = await perform_effect(engine, SCHEMA, kind="webhook", key="hook:42", send=send)
    assert outcome.sent_now and outcome.attempts == 2
    assert seen == [(1, False), (2, True)]
    assert receiver.calls == ["hook:42", "hook:42"]  # the receiver can tell: same key


async def test_records_survive_the_callers_rollback(engine):
    sessionmaker = make_sessionmaker(engine)
    receiver = Receiver(engine)
    async with sessionmaker() as session:
        await session.begin()
        await perform_effect(session, SCHEMA, kind="callback", key="dci:cb:1", send=receiver.send)
        await session.rollback()
    assert (await effect_status(engine, SCHEMA, "dci:cb:1"))["status"] == "sent"


async def test_given_up_effects_are_not_sent(engine):
    receiver = Receiver(engine, fail_times=5)
    with pytest.raises(ConnectionError):
        await perform_effect(engine, SCHEMA, kind="sms", key="sms:x", send=receiver.send)
    assert await give_up(engine, SCHEMA, key="sms:x", reason="number unreachable")
    with pytest.raises(EffectFailed):
        await perform_effect(engine, SCHEMA, kind="sms", key="sms:x", send=receiver.send)
    assert receiver.calls == ["sms:x"]
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT status FROM tickets.external_effect"))).scalar_one() == "failed"


async def test_keys_must_be_given(engine):
    receiver = Receiver(engine)
    with pytest.raises(ValueError):
        await perform_effect(engine, SCHEMA, kind="sms", key="", send=receiver.send)
