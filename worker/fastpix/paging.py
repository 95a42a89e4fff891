"""Walking FastPix's paged lists without trusting what `offset` means.

The spec and real answers treat `offset` as a page number starting at 1; the seed guide says it is a
count of records to skip (default 0). We ask for pages 1, 2, ... and watch: if page 2 is page 1 shifted
by one record, the server is skipping records, so we continue with skip counts and fetch the one record
that `offset=1` skipped (also when a short first page holds fewer records than `totalRecords` says).
Either way every record comes out once, and the walk stops at a short, empty or all-repeated page, or
after MAX_PAGES, so a server that ignores `offset` cannot make it loop forever.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from typing import TypeVar

ItemT = TypeVar("ItemT")
MAX_PAGES = 10_000

# (offset, limit) -> (items, totalRecords when the server said)
FetchPage = Callable[[int, int], tuple[list[ItemT], int | None]]


def iter_all(fetch: FetchPage[ItemT], page_size: int, key: Callable[[ItemT], Hashable]) -> Iterator[ItemT]:
    seen: set[Hashable] = set()
    first_page_keys: list[Hashable] = []
    offset = 1
    skipping = False
    for page_number in range(1, MAX_PAGES + 1):
        items, total = fetch(offset, page_size)
        keys = [key(item) for item in items]
        if page_number == 1:
            first_page_keys = keys
            if len(items) < page_size and total is not None and total > len(items):
                skipping = True
        elif page_number == 2 and _shifted_by_one(first_page_keys, keys):
            skipping = True
        fresh = [item for item, item_key in zip(items, keys, strict=True) if item_key not in seen]
        for item in fresh:
            seen.add(key(item))
            yield item
        if len(items) < page_size or not fresh:
            break
        offset = offset + page_size if skipping else offset + 1
    if skipping:
        for item in fetch(0, 1)[0]:
            if key(item) not in seen:
                seen.add(key(item))
                yield item


def _shifted_by_one(previous: list[Hashable], current: list[Hashable]) -> bool:
    if len(previous) < 2 or not current:
        return False
    overlap = previous[1:]
    return current[: len(overlap)] == overlap[: len(current)]
