"""The report as text a person reads in a terminal or in Slack (plain lines, `•` bullets, no markup
that only one of them renders)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, tzinfo

from worker.service.report import Act, Report

MAX_LINES = 50  # per section; the JSON form has everything


def render(report: Report, zone: tzinfo) -> str:
    def at(value: datetime, with_date: bool = False) -> str:
        local = value.astimezone(zone)
        return f"{local:%Y-%m-%d %H:%M:%S}" if with_date else f"{local:%H:%M:%S}"

    zone_name = str(zone)
    lines = [f"onair report {at(report.since, True)} to {at(report.until, True)} ({zone_name})"]

    counts = Counter(b.what_happened[0] for b in report.broadcasts)
    summary = ", ".join(f"{n} {what}" for what, n in sorted(counts.items()))
    lines.append(f"Broadcasts: {len(report.broadcasts)}" + (f" ({summary})" if summary else ""))
    for b in report.broadcasts[:MAX_LINES]:
        name = b.title or "untitled"
        stream = b.stream_name or b.stream_id
        acts = ", ".join(_act_short(a) for a in b.acts) or "no actions"
        outcome, cause = b.what_happened
        live = b.outcome.live_minutes
        audience = "" if b.viewers is None else f", viewers {b.viewers.text(at)}"
        lines.append(
            f"• #{b.id} {name} on {stream}, {at(b.starts_at, True)} to {at(b.ends_at)}: "
            f"{outcome}{f' ({cause})' if cause else ''}{'' if live is None else f', live {live:.0f} min'}"
            f"{audience} [{acts}]"
        )
    _more(lines, len(report.broadcasts))

    lines.append(f"Failed or missed: {len(report.failures)}")
    for a in report.failures[:MAX_LINES]:
        lines.append(
            f"• action #{a.action_id} {a.kind} of {a.stream_id} due {at(a.due_at)}: {a.state}: {a.why}"
        )
    _more(lines, len(report.failures))

    lines.append(f"Invalid schedule rows: {len(report.invalid)}")
    lines.extend(f"• {r.label}: {r.reason}" for r in report.invalid[:MAX_LINES])
    _more(lines, len(report.invalid))

    gaps = report.gaps + report.ongoing
    lines.append(f"Gaps: {len(gaps)}")
    for g in report.gaps:
        lines.append(f"• {g.kind} did not tick from {at(g.start)} to {at(g.end)} ({g.seconds:.0f} s)")
    for g in report.ongoing:
        lines.append(f"• {g.kind} has not ticked since {at(g.start, True)} ({g.seconds:.0f} s so far)")

    t = report.totals
    states = ", ".join(f"{n} {s}" for s, n in t.by_state.items())
    late = (
        f"lateness p50 {_ms(t.p50_seconds)}, p99 {_ms(t.p99_seconds)}, max {_ms(t.max_seconds)} "
        f"over {t.timed} acts"
        if t.timed
        else "no act was sent"
    )
    lines.append(f"Totals: {t.actions} actions due" + (f" ({states})" if states else "") + f"; {late}")
    return "\n".join(lines)


def _act_short(a: Act) -> str:
    when = f"{_signed_ms(a.lateness_seconds)}" if a.lateness_seconds is not None else "not sent"
    text = f"{a.kind} {a.state} {when}"
    return f"{text}: {a.why}" if a.why else text


def _more(lines: list[str], total: int) -> None:
    if total > MAX_LINES:
        lines.append(f"• and {total - MAX_LINES} more (see `onair report --json`)")


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def _signed_ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.0f} ms late" if ms >= 0 else f"{-ms:.0f} ms early"
