"""Run every benchmark on both backends, one after the other, each bounded in time; print their figures.

    .venv/bin/python -m benchmarks.run_all [embedded] [postgres] [--quick]

Needs PostgreSQL (BENCH_POSTGRES_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/test: a fresh
database is created and dropped) and Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379/13: that db
is flushed before and after). Each benchmark starts its own simulator, scheduler and baseline processes
and stops them; BENCH_KEEP=1 keeps the work folders (logs, SQLite files) for a look afterwards.
"""

from __future__ import annotations

import subprocess
import sys

from benchmarks.common import ROOT, machine

# (module, arguments, quick arguments, time limit in seconds)
BENCHMARKS = [
    ("benchmarks.lateness", [], ["--streams", "200"], 900),
    ("benchmarks.burst", [], ["--actions", "1000"], 1800),
    ("benchmarks.scale", [], ["--sizes", "1000,100000"], 3600),
    ("benchmarks.viewers", [], ["--looks", "50"], 900),
]


def main() -> int:
    quick = "--quick" in sys.argv
    backends = [a for a in sys.argv[1:] if a in ("embedded", "postgres")]
    print(f"machine: {machine()}", flush=True)
    failed = 0
    for module, args, quick_args, limit in BENCHMARKS:
        argv = [sys.executable, "-m", module, *backends, *(quick_args if quick else args)]
        print(f"$ {' '.join(argv[1:])}", flush=True)
        child = subprocess.Popen(argv, cwd=ROOT)
        try:
            failed += child.wait(timeout=limit) != 0
        except subprocess.TimeoutExpired:
            print(f"{module}: stopped after {limit} s", flush=True)
            child.terminate()  # SIGTERM: the benchmark stops its processes and drops its database
            try:
                child.wait(timeout=120)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
