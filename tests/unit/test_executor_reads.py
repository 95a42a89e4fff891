"""When a worker process reads its streams: as late as each may, one after the other when they fall
due together, across every batch the process runs, so the last read of a burst is still done before
its instant; what finds no room reads at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from worker.service.executor import CHECK_AHEAD
from worker.service.reads import READ_SPACING, ReadSchedule

INSTANT = datetime(2026, 11, 30, 21, 0, tzinfo=UTC)
ALONE = INSTANT - CHECK_AHEAD
TAKEN_OVER = INSTANT - timedelta(seconds=1)  # when the batches start: the dispatcher's wake-up
MS = timedelta(milliseconds=1)


def test_fifty_acts_due_at_one_instant_read_one_after_the_other_the_earliest_first() -> None:
    reads = ReadSchedule().plan([(ALONE, True)] * 50, TAKEN_OVER)

    assert reads[-1] == ALONE  # the last read is as late as a run alone would read
    assert reads[0] == ALONE - 49 * READ_SPACING
    assert all(later - earlier == READ_SPACING for earlier, later in pairwise(reads))


def test_acts_due_far_enough_apart_read_as_they_would_alone() -> None:
    alone = [ALONE + n * 20 * MS for n in range(10)]

    assert ReadSchedule().plan([(at, True) for at in alone], TAKEN_OVER) == alone


def test_a_second_batch_due_at_the_same_instant_reads_in_the_room_the_first_left() -> None:
    schedule = ReadSchedule()
    first = schedule.plan([(ALONE, True)] * 30, TAKEN_OVER)
    second = schedule.plan([(ALONE, True)] * 30, TAKEN_OVER + 5 * MS)

    both = sorted(first + second)
    assert all(later - earlier >= READ_SPACING for earlier, later in pairwise(both))
    assert max(second) == min(first) - READ_SPACING  # the later batch reads before the earlier one's
    assert max(both) == ALONE


def test_reads_that_find_no_room_before_their_instant_happen_at_once() -> None:
    room = (ALONE - TAKEN_OVER) // READ_SPACING + 1  # ALONE, ALONE - 8 ms, ... after the take-over

    reads = ReadSchedule().plan([(ALONE, True)] * 200, TAKEN_OVER)

    assert sorted(reads) == reads and reads[-1] == ALONE
    assert reads.count(TAKEN_OVER) == 200 - room
    assert min(reads) >= TAKEN_OVER, "never planned in the past"


def test_a_retry_reads_at_its_own_time_and_the_runs_before_it_make_room() -> None:
    retry_at = INSTANT  # a retry reads at its instant (it may be a Retry-After), never earlier

    reads = ReadSchedule().plan(
        [(ALONE, True), (ALONE, True), (retry_at, False), (retry_at, False)], TAKEN_OVER
    )

    assert reads[2:] == [retry_at, retry_at]
    assert reads[:2] == [ALONE - READ_SPACING, ALONE]


def test_reads_already_past_are_forgotten() -> None:
    schedule = ReadSchedule()
    schedule.plan([(ALONE, True)] * 10, TAKEN_OVER)

    later = INSTANT + timedelta(minutes=1)
    assert schedule.plan([(later - CHECK_AHEAD, True)], later - timedelta(seconds=1)) == [later - CHECK_AHEAD]
    assert len(schedule._planned) == 1
