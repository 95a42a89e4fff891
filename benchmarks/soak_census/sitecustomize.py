"""A census of each Python process's heap, for `benchmarks.soak --census` (this folder first on
PYTHONPATH): every ONAIR_SOAK_CENSUS_SECONDS, one JSON line per process into
$ONAIR_SOAK_CENSUS/<pid>.jsonl with its RSS, its live objects by type (the most numerous) and, when
PYTHONTRACEMALLOC is set, the source lines whose allocations grew most since its first census.

Diagnosis only: walking the heap and taking snapshots costs time, so a census run's lateness and CPU
figures are not the product's.
"""

from __future__ import annotations

import os

if os.environ.get("ONAIR_SOAK_CENSUS"):
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

    def _census() -> None:
        out = Path(os.environ["ONAIR_SOAK_CENSUS"]) / f"{os.getpid()}.jsonl"
        every = float(os.environ.get("ONAIR_SOAK_CENSUS_SECONDS", "120"))
        first = None
        while True:
            time.sleep(every)
            types = Counter(type(o).__qualname__ for o in gc.get_objects())
            row: dict[str, object] = {
                "t": time.time(),
                "argv": sys.argv,
                "rss_mb": round(_rss_mb(), 1),
                "objects": sum(types.values()),
                "types": dict(types.most_common(40)),
            }
            if tracemalloc.is_tracing():
                snapshot = tracemalloc.take_snapshot()
                row["traced_mb"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 1)
                if first is None:
                    first = snapshot
                else:
                    row["grown"] = [
                        [str(s.traceback), round(s.size_diff / 1024, 1), s.count_diff]
                        for s in snapshot.compare_to(first, "lineno")[:15]
                    ]
            with out.open("a") as f:
                f.write(json.dumps(row) + "\n")

    threading.Thread(target=_census, name="soak-census", daemon=True).start()
