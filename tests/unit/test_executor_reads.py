"""When the runs of a batch read their streams: as late as they may, one after the other when they
fall due together, so the last read of a burst is still done before its instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from worker.service.executor import CHECK_AHEAD, READ_SPACING, spread_reads

INSTANT = datetime(2026, 11, 30, 21, 0, tzinfo=UTC)
MS = timedelta(milliseconds=1)


def test_fifty_acts_due_at_one_instant_read_one_after_the_other_the_earliest_first() -> None:
    alone = INSTANT - CHECK_AHEAD

    reads = spread_reads([(alone, True)] * 50)

    assert reads[-1] == alone  # the last read is as late as a run alone would read
    assert reads[0] == alone - 49 * READ_SPACING
    assert all(later - earlier == READ_SPACING for earlier, later in pairwise(reads))


def test_acts_due_far_enough_apart_read_as_they_would_alone() -> None:
    alone = [INSTANT + n * 20 * MS - CHECK_AHEAD for n in range(10)]

    assert spread_reads([(at, True) for at in alone]) == alone


def test_a_retry_reads_at_its_own_time_and_the_runs_before_it_make_room() -> None:
    retry_at = INSTANT  # a retry reads at its instant (it may be a Retry-After), never earlier
    first = INSTANT - CHECK_AHEAD

    reads = spread_reads([(first, True), (first, True), (retry_at, False), (retry_at, False)])

    assert reads[2:] == [retry_at, retry_at]
    assert reads[:2] == [first - READ_SPACING, first]
