"""The bursts of a kept run, instant by instant: from a simulator call log (`BENCH_KEEP=1` keeps the
work folder and its `simulator.calls.jsonl`), the acts (enable, disable, finish) that arrived in each
whole second holding at least `--min` of them, how late the first, middle and last arrived after that
second began, and the state reads in the second before and after it (how many came after the instant).

    .venv/bin/python -m benchmarks.instants WORK/simulator.calls.jsonl [--min 5]

The instant is taken to be the whole second the acts arrived in: right for the soak, whose acts are
all due on whole seconds and arrive well within a second of them. Only onair's acts count: onair reads
a stream before every act, so an act with no read of its stream since the stream's last act is the
harness's own (the soak creates its streams and disables them before onair starts).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path

ACTS = ("enable", "disable", "finish")


def ms(span: timedelta) -> float:
    return span.total_seconds() * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("calls", type=Path)
    parser.add_argument("--min", type=int, default=5, help="acts in a second to count it as a burst")
    args = parser.parse_args()
    acts: dict[datetime, list[datetime]] = defaultdict(list)
    reads: list[datetime] = []
    read_since_act: set[str] = set()
    for line in args.calls.read_text().splitlines():
        call = json.loads(line)
        at = datetime.fromisoformat(call["time"].replace("Z", "+00:00"))
        if call["endpoint"] in ACTS:
            if call["stream_id"] in read_since_act:
                acts[at.replace(microsecond=0)].append(at)
            read_since_act.discard(call["stream_id"])
        elif call["endpoint"] == "get":
            reads.append(at)
            read_since_act.add(call["stream_id"])
    lasts = []
    for instant, arrived in sorted(acts.items()):
        if len(arrived) < args.min:
            continue
        late = sorted(ms(at - instant) for at in arrived)
        near = [ms(at - instant) for at in reads if abs(at - instant) < timedelta(seconds=1)]
        after = sum(1 for t in near if t >= 0)
        lasts.append(late[-1])
        print(
            f"{instant:%H:%M:%S} acts {len(late):4d}, late first / middle / last "
            f"{late[0]:6.1f} / {late[len(late) // 2]:6.1f} / {late[-1]:6.1f} ms; "
            f"reads {len(near):4d}, {after} after the instant"
        )
    if lasts:
        lasts.sort()
        middle, worst = lasts[len(lasts) // 2], lasts[-1]
        print(f"{len(lasts)} instants: the last act of each, middle {middle:.1f} ms, max {worst:.1f} ms")


if __name__ == "__main__":
    main()
