"""claim_due, leases and fenced writes: per stream one timeline, nothing lost, no stale overwrite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, select, text, update

from tests.integration.store_support import BACKENDS, T0, migrated_engine, planned
from worker.clock import FixedClock
from worker.domain.attempts import Attempt
from worker.domain.types import ActionKind, ActionState, PlannedAction, Source
from worker.store import ledger
from worker.store.db import transaction
from worker.store.models import Action, ActionEvent

MINUTE = timedelta(minutes=1)
LEASE = timedelta(seconds=60)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from migrated_engine(request, tmp_path)


def _plan(engine: Engine, *actions: PlannedAction) -> dict[str, int]:
    with transaction(engine) as session:
        ledger.apply_plan(session, actions, scope_sources=[], window_start=T0 - timedelta(days=1), now=T0)
        rows = session.execute(select(Action.idempotency_key, Action.id)).all()
    return {key: action_id for key, action_id in rows}


def _claim(
    engine: Engine, now=T0, ahead=timedelta(0), limit: int = 100, owner: str = "w"
) -> list[ledger.Claim]:  # type: ignore[no-untyped-def]
    return ledger.claim_due(engine, now=now, ahead=ahead, lease=LEASE, owner=owner, limit=limit)


def _action(engine: Engine, action_id: int) -> Action:
    with transaction(engine, immediate=False) as session:
        action = session.get(Action, action_id)
        assert action is not None
        return action


def _succeed(engine: Engine, claim: ledger.Claim, now: datetime = T0) -> bool:
    """Record a succeeded attempt under the claim's lease, as the executor does."""
    done = Attempt.done(claim.action_id, ActionState.SUCCEEDED, "done")
    with transaction(engine) as session:
        return claim.action_id in ledger.record_attempts(session, claim.lease_token, [done], now=now)


def test_one_claim_per_stream_in_due_order_and_the_next_only_after_the_first_finished(engine: Engine) -> None:
    ids = _plan(
        engine,
        planned("a", ActionKind.ENABLE, T0, key="a1"),
        planned(
            "a", ActionKind.DISABLE, T0, key="a0"
        ),  # same instant: disable (sequence 1) before enable (2)
        planned("b", ActionKind.ENABLE, T0 - MINUTE, key="b1"),
        planned("c", ActionKind.ENABLE, T0 + MINUTE, key="c1"),
    )

    first = _claim(engine)
    assert [(c.action_id, c.stream_id) for c in first] == [(ids["b1"], "b"), (ids["a0"], "a")]
    assert _claim(engine) == []  # a and b are busy, c is not due

    assert _succeed(engine, first[1])
    [second] = _claim(engine)
    assert second.action_id == ids["a1"]
    claimed = _action(engine, ids["a1"])
    assert (claimed.state, claimed.lease_owner, claimed.lease_expires_at) == ("claimed", "w", T0 + LEASE)


def test_claiming_ahead_leases_from_the_due_time_and_respects_the_limit(engine: Engine) -> None:
    ids = _plan(
        engine, *(planned(f"s{i}", ActionKind.ENABLE, T0 + i * timedelta(seconds=1)) for i in range(5))
    )

    claims = _claim(engine, ahead=timedelta(seconds=2), limit=2)

    assert [c.stream_id for c in claims] == ["s0", "s1"]
    assert _action(engine, claims[1].action_id).lease_expires_at == T0 + timedelta(seconds=1) + LEASE
    assert [c.stream_id for c in _claim(engine, ahead=timedelta(seconds=2))] == ["s2"]
    assert len(ids) == 5


def test_a_retrying_action_is_superseded_by_a_later_due_one_on_its_stream(engine: Engine) -> None:
    ids = _plan(
        engine,
        planned("s", ActionKind.ENABLE, T0 - 10 * MINUTE, key="enable"),
        planned("s", ActionKind.DISABLE, T0, key="disable"),
    )
    [claim] = _claim(engine, now=T0 - 10 * MINUTE)
    with transaction(engine) as session:
        assert ledger.retry_later(
            session, claim.action_id, claim.lease_token, next_attempt_at=T0 + MINUTE, error="HTTP 503", now=T0
        )

    [later] = _claim(engine, now=T0)

    assert later.action_id == ids["disable"]
    enable = _action(engine, ids["enable"])
    assert (enable.state, enable.outcome, enable.attempts) == (
        "superseded",
        f"superseded by action #{ids['disable']}",
        1,
    )


def test_an_update_never_supersedes_the_retrying_enable_it_needs(engine: Engine) -> None:
    ids = _plan(
        engine,
        planned("s", ActionKind.ENABLE, T0, key="enable"),
        planned("s", ActionKind.UPDATE, T0, key="update"),
    )
    [claim] = _claim(engine, now=T0)
    with transaction(engine) as session:
        assert ledger.retry_later(
            session, claim.action_id, claim.lease_token, next_attempt_at=T0 + MINUTE, error="HTTP 503", now=T0
        )

    assert _claim(engine, now=T0 + MINUTE / 2) == []
    [retry] = _claim(engine, now=T0 + MINUTE)

    assert retry.action_id == ids["enable"]
    assert _action(engine, ids["update"]).state == "pending"


def test_a_day_of_actions_ahead_changes_no_claim(engine: Engine) -> None:
    """The dispatcher ranks only the due, claimed and retrying rows: the horizon planned behind them
    (a day of enables and finishes on every stream) changes neither what is claimed nor the order."""
    ahead = [
        planned(stream, kind, T0 + n * MINUTE)
        for stream in ("retrying", "due", "later")
        for n in range(1, 200)
        for kind in (ActionKind.ENABLE, ActionKind.FINISH)
    ]
    ids = _plan(
        engine,
        *ahead,
        planned("retrying", ActionKind.ENABLE, T0 - MINUTE, key="enable"),
        planned("retrying", ActionKind.UPDATE, T0, key="update"),
        planned("due", ActionKind.ENABLE, T0, key="due"),
    )
    [first] = _claim(engine, now=T0 - MINUTE)
    with transaction(engine) as session:  # its retry comes after the next ticks' cutoff
        assert ledger.retry_later(
            session, first.action_id, first.lease_token, next_attempt_at=T0 + 5 * MINUTE, error="503", now=T0
        )

    claims = _claim(engine, now=T0, ahead=timedelta(seconds=2))

    # The update never overtakes the enable it needs, and nothing of the day ahead is claimed.
    assert [c.action_id for c in claims] == [ids["due"]]


def test_a_first_attempt_is_never_superseded(engine: Engine) -> None:
    ids = _plan(
        engine,
        planned("s", ActionKind.ENABLE, T0 - MINUTE, key="enable"),
        planned("s", ActionKind.DISABLE, T0, key="disable"),
    )

    [claim] = _claim(engine, now=T0)

    assert claim.action_id == ids["enable"]


def test_an_expired_lease_is_reclaimed_and_the_stale_worker_cannot_write(engine: Engine) -> None:
    ids = _plan(engine, planned("s", ActionKind.ENABLE, T0, key="k"))
    [stale] = _claim(engine, owner="slow-worker")

    with transaction(engine) as session:
        assert ledger.reclaim_expired(session, T0 + LEASE) == 0  # not yet: expiry is exclusive
        assert ledger.reclaim_expired(session, T0 + LEASE + timedelta(seconds=1)) == 1
    assert _action(engine, ids["k"]).state == "pending"
    [fresh] = _claim(engine, now=T0 + 2 * LEASE, owner="new-worker")
    assert fresh.action_id == stale.action_id and fresh.lease_token != stale.lease_token

    assert not _succeed(engine, stale, now=T0 + 2 * LEASE)
    with transaction(engine) as session:
        assert not ledger.retry_later(
            session, stale.action_id, stale.lease_token, next_attempt_at=T0, error="late", now=T0 + 2 * LEASE
        )
        assert ledger.renew(session, [stale.action_id], stale.lease_token, until=T0 + 3 * LEASE) == set()
    assert _succeed(engine, fresh, now=T0 + 2 * LEASE)

    action = _action(engine, ids["k"])
    assert (action.state, action.outcome, action.attempts, action.lease_token) == (
        "succeeded",
        "done",
        1,
        None,
    )
    with transaction(engine, immediate=False) as session:
        events = session.scalars(
            select(ActionEvent.event).where(ActionEvent.action_id == ids["k"]).order_by(ActionEvent.id)
        ).all()
    assert events == [
        "planned",
        "claimed",
        "lease_expired",
        "claimed",
        "stale_write_rejected",
        "stale_write_rejected",
        "succeeded",
    ]


def test_a_group_write_ahead_writes_only_for_leases_still_held_and_says_which(engine: Engine) -> None:
    """The executor writes the `sending` events of the runs that reach their call together in one
    statement: a run whose lease another worker took back gets no event, and must not send."""
    ids = _plan(engine, *(planned(s, ActionKind.ENABLE, T0, key=s) for s in ("a", "b", "c")))
    claims = _claim(engine)
    with transaction(engine) as session:  # the executor holds the batch under one token of its own
        ledger.take_over(
            session, [(c.action_id, c.lease_token) for c in claims], new_token="t", owner="w", now=T0
        )
    token = "t"
    with transaction(engine) as session:  # b's lease lapsed and another worker claimed it
        session.execute(update(Action).where(Action.id == ids["b"]).values(lease_token="another"))
    intents = [ledger.Intent(ids[s], 1, f"enabling {s}") for s in ("a", "b", "c")]

    with transaction(engine) as session:
        written = ledger.record_intents(session, token, intents, now=T0, actor="w")
    with transaction(engine) as session:
        everyone = ledger.record_intents(session, token, [intents[0], intents[2]], now=T0, actor="w")

    assert (written, everyone) == ({ids["a"], ids["c"]}, {ids["a"], ids["c"]})
    with transaction(engine, immediate=False) as session:
        sending = session.execute(
            select(ActionEvent.action_id, ActionEvent.detail).where(ActionEvent.event == ledger.SENDING)
        ).all()
    assert sorted(sending) == sorted([(ids["a"], "enabling a"), (ids["c"], "enabling c")] * 2)


def test_claim_due_takes_back_expired_leases_itself(engine: Engine) -> None:
    _plan(engine, planned("s", ActionKind.ENABLE, T0, key="k"))
    [first] = _claim(engine)

    [again] = _claim(engine, now=T0 + 2 * LEASE)

    assert again.action_id == first.action_id and again.lease_token != first.lease_token


def test_retry_later_counts_the_attempt_and_waits(engine: Engine) -> None:
    ids = _plan(engine, planned("s", ActionKind.ENABLE, T0, key="k"))
    [claim] = _claim(engine)
    with transaction(engine) as session:
        assert ledger.retry_later(
            session, claim.action_id, claim.lease_token, next_attempt_at=T0 + MINUTE, error="HTTP 524", now=T0
        )

    assert _claim(engine, now=T0 + timedelta(seconds=59)) == []
    [retry] = _claim(engine, now=T0 + MINUTE)
    action = _action(engine, ids["k"])
    assert (action.attempts, action.last_error, retry.next_attempt_at) == (1, "HTTP 524", T0 + MINUTE)


def test_take_over_swaps_the_token_so_a_duplicate_message_finds_nothing(engine: Engine) -> None:
    _plan(engine, planned("s", ActionKind.ENABLE, T0, key="k"))
    [claim] = _claim(engine)

    with transaction(engine) as session:
        [mine] = ledger.take_over(
            session, [(claim.action_id, claim.lease_token)], new_token="t2", owner="exec", now=T0
        )
        duplicate = ledger.take_over(
            session, [(claim.action_id, claim.lease_token)], new_token="t3", owner="x", now=T0
        )

    assert (mine.id, mine.lease_token, mine.lease_owner) == (claim.action_id, "t2", "exec")
    assert duplicate == []


def test_release_gives_the_claim_back_uncounted(engine: Engine) -> None:
    ids = _plan(engine, planned("s", ActionKind.ENABLE, T0, key="k"))
    [claim] = _claim(engine)

    with transaction(engine) as session:
        assert ledger.release(session, claim.action_id, claim.lease_token, now=T0)

    [again] = _claim(engine)
    assert again.action_id == ids["k"] and _action(engine, ids["k"]).attempts == 0


def test_complete_refuses_states_that_do_not_finish_an_action(engine: Engine) -> None:
    _plan(engine, planned("s", ActionKind.ENABLE, T0, key="k"))
    [claim] = _claim(engine)

    cancelled = Attempt.done(claim.action_id, ActionState.CANCELLED, "x")
    with transaction(engine) as session, pytest.raises(ValueError, match="not cancelled"):
        ledger.record_attempts(session, claim.lease_token, [cancelled], now=T0)


def test_cancelled_schedules_are_not_claimed(engine: Engine) -> None:
    _plan(engine, planned("s", ActionKind.ENABLE, T0, key="k", source=Source.OFF_HOURS, source_id=99))
    with transaction(engine) as session:  # off_hours #99 does not exist
        ledger.apply_plan(session, [], scope_sources=[], window_start=T0 + timedelta(days=1), now=T0)

    assert _claim(engine) == []


def test_one_dispatcher_tick_reclaims_marks_missed_as_the_dispatcher_and_claims_in_one_go(
    engine: Engine,
) -> None:
    """A lease that ran out, an action whose deadline passed unclaimed, and one due now: one tick's
    transaction gives the first back and claims it again, marks the second missed in the name of the
    dispatcher, and claims the third."""
    ids = _plan(
        engine,
        planned("lapsed", ActionKind.ENABLE, T0, key="lapsed"),
        planned("late", ActionKind.ENABLE, T0 - MINUTE, key="late", deadline=timedelta(seconds=30)),
        planned("due", ActionKind.ENABLE, T0 + 2 * LEASE, key="due"),
    )
    with transaction(engine) as session:  # the "late" row must stay pending for this: claim only "lapsed"
        session.execute(
            update(Action).where(Action.id != ids["lapsed"]).values(next_attempt_at=T0 + timedelta(days=1))
        )
    [first] = _claim(engine, now=T0, owner="dead-worker")
    assert first.action_id == ids["lapsed"]
    with transaction(engine) as session:
        session.execute(update(Action).where(Action.id == ids["due"]).values(next_attempt_at=T0 + 2 * LEASE))

    later = FixedClock(T0 + 2 * LEASE)
    with transaction(engine) as session:
        due = ledger.dispatch_due(session, later, ahead=timedelta(0), lease=LEASE, owner="beat-1", limit=10)

    assert (due.locked, due.now, due.reclaimed) == (True, T0 + 2 * LEASE, 1)
    assert [m.id for m in due.missed] == [ids["late"]]
    assert sorted(c.action_id for c in due.claims) == sorted([ids["lapsed"], ids["due"]])
    assert _action(engine, ids["late"]).state == "missed"
    with transaction(engine, immediate=False) as session:
        actors = session.execute(
            select(ActionEvent.event, ActionEvent.actor).where(ActionEvent.action_id == ids["late"])
        ).all()
    assert ("missed", "dispatcher") in [tuple(row) for row in actors]


def test_a_dispatcher_tick_reads_the_live_rows_by_due_time_not_the_horizon(engine: Engine) -> None:
    """Every second the tick marks missed what passed its deadline and ranks what is due: both read a
    range of the live rows by due time (migration 0016), neither every action planned ahead (a busy
    night's 75,000 rows cost ~60 ms a tick inside its write lock) nor the history behind."""
    _plan(
        engine,
        *(
            planned(f"s{n % 100}", kind, T0 + n * timedelta(seconds=3))
            for n in range(-3000, 3000)
            if n
            for kind in (ActionKind.ENABLE, ActionKind.FINISH)
        ),
    )
    with transaction(engine) as session:  # the night so far: done
        session.execute(update(Action).where(Action.due_at < T0).values(state="succeeded"))
    if engine.dialect.name == "postgresql":  # as the planner does after planning this many rows
        with engine.begin() as conn:
            conn.execute(text("ANALYZE actions"))
    statements: list[tuple[str, object]] = []

    def keep(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.lstrip().startswith("SELECT") and "actions" in statement:
            statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        with transaction(engine) as session:
            clock = FixedClock(T0)
            ledger.dispatch_due(session, clock, ahead=timedelta(seconds=2), lease=LEASE, owner="b", limit=10)
    finally:
        event.remove(engine, "before_cursor_execute", keep)

    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    plans = {}
    with engine.connect() as conn:
        for statement, parameters in statements:
            rows = conn.exec_driver_sql(explain + statement, parameters).all()  # type: ignore[arg-type]
            plans[statement] = " ".join(str(row[-1]) for row in rows)
    missed = next(plan for statement, plan in plans.items() if "deadline_at <=" in statement)
    ranked = next(plan for statement, plan in plans.items() if "row_number()" in statement)
    for plan in (missed, ranked):
        assert "ix_actions_live_state_due_at" in plan, plan
        assert "SCAN actions" not in plan and "Seq Scan on actions" not in plan, plan
