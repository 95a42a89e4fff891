"""A census of each Python process's heap, for `benchmarks.soak --census` (this folder first on
PYTHONPATH): every ONAIR_SOAK_CENSUS_SECONDS, one JSON line per process into
$ONAIR_SOAK_CENSUS/<pid>.jsonl with its RSS, its live objects by type (the most numerous), the garbage
collector's counts, glibc's malloc figures (mallinfo2: bytes in use, bytes free but kept, mmapped) and,
when PYTHONTRACEMALLOC is set, the Python heap tracemalloc traces and the source lines whose allocations
grew most since its first census and since the previous one. RSS against the traced heap and malloc's
in-use bytes tells a leak of Python objects from memory the allocator keeps (fragmentation, arenas).

Diagnosis only: walking the heap and taking snapshots costs time, so a census run's lateness and CPU
figures are not the product's.
"""

from __future__ import annotations

import os

if os.environ.get("ONAIR_SOAK_CENSUS"):
    import ctypes
    import gc
    import json
    import sys
    import threading
    import time
    import tracemalloc
    from collections import Counter
    from pathlib import Path

    def _rss_mb() -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
        return 0.0

    class _MallInfo2(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in (
                "arena",
                "ordblks",
                "smblks",
                "hblks",
                "hblkhd",
                "usmblks",
                "fsmblks",
                "uordblks",
                "fordblks",
                "keepcost",
            )
        ]

    def _malloc_mb() -> dict[str, float]:
        """glibc's view: heap obtained from the system (arena + mmapped), in use, free but kept."""
        try:
            libc = ctypes.CDLL("libc.so.6")
            libc.mallinfo2.restype = _MallInfo2
            info = libc.mallinfo2()
        except (OSError, AttributeError):
            return {}
        mb = 2**20
        return {
            "arena": round(info.arena / mb, 1),
            "mmapped": round(info.hblkhd / mb, 1),
            "in_use": round(info.uordblks / mb, 1),
            "free_kept": round(info.fordblks / mb, 1),
        }

    def _grown(now: tracemalloc.Snapshot, before: tracemalloc.Snapshot, top: int) -> list[object]:
        return [
            [str(s.traceback), round(s.size_diff / 1024, 1), s.count_diff]
            for s in now.compare_to(before, "lineno")[:top]
        ]

    def _census() -> None:
        out = Path(os.environ["ONAIR_SOAK_CENSUS"]) / f"{os.getpid()}.jsonl"
        every = float(os.environ.get("ONAIR_SOAK_CENSUS_SECONDS", "120"))
        first = previous = None
        while True:
            time.sleep(every)
            types = Counter(type(o).__qualname__ for o in gc.get_objects())
            row: dict[str, object] = {
                "t": time.time(),
                "argv": sys.argv,
                "rss_mb": round(_rss_mb(), 1),
                "objects": sum(types.values()),
                "types": dict(types.most_common(40)),
                "gc_counts": list(gc.get_count()),
                "gc_collections": [g["collections"] for g in gc.get_stats()],
                "gc_uncollectable": sum(g["uncollectable"] for g in gc.get_stats()),
                "allocated_blocks": sys.getallocatedblocks(),
                "malloc_mb": _malloc_mb(),
                "threads": threading.active_count(),
            }
            if tracemalloc.is_tracing():
                snapshot = tracemalloc.take_snapshot()
                row["traced_mb"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 1)
                if first is None:
                    first = snapshot
                else:
                    row["grown"] = _grown(snapshot, first, 15)
                    row["grown_since_previous"] = _grown(snapshot, previous, 8)
                previous = snapshot
            with out.open("a") as f:
                f.write(json.dumps(row) + "\n")

    threading.Thread(target=_census, name="soak-census", daemon=True).start()
