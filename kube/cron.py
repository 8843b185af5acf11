"""Cron schedules as a CronJob's `schedule` takes them (pure): five fields — minute, hour,
day of month, month, day of week — with `*`, `?`, lists, ranges, steps and the names JAN–DEC
and SUN–SAT (7 is Sunday too), or a macro (@yearly, @annually, @monthly, @weekly, @daily,
@midnight, @hourly, `@every <duration>`), as the cron library Kubernetes uses parses them.
Where both the day of month and the day of week are restricted, a day matching either runs.

    schedule = parse("*/15 9-17 * * MON-FRI")     # raises CronError, naming the problem
    schedule.next_after(moment)                  # the first run strictly after it (aware)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from kube.durations import parse_duration

MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
          "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
          "@hourly": "0 * * * *"}
MONTHS = {m: i + 1 for i, m in enumerate(
    "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())}
DAYS = {d: i for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split())}
# (name, low, high, names)
FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}), ("hour", 0, 23, {}), ("day of month", 1, 31, {}),
    ("month", 1, 12, MONTHS), ("day of week", 0, 7, DAYS))
LOOKAHEAD_YEARS = 5  # a schedule with no run within this long never runs (Feb 30th)


class CronError(ValueError):
    pass


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    days_starred: bool  # the day of month was * or ?
    weekdays_starred: bool
    every: timedelta | None = None  # @every: a fixed interval instead

    def _day_matches(self, moment: datetime) -> bool:
        in_month = moment.day in self.days
        in_week = (moment.isoweekday() % 7) in self.weekdays
        if self.days_starred or self.weekdays_starred:
            return in_month and in_week
        return in_month or in_week

    def next_after(self, moment: datetime) -> datetime:
        """The first time strictly after `moment` (aware, in the zone the schedule is read
        in) that the schedule fires, to the minute. Raises CronError when it never does."""
        if self.every is not None:
            return moment + self.every - timedelta(microseconds=moment.microsecond)
        t = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = moment + timedelta(days=366 * LOOKAHEAD_YEARS)
        while t <= limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
                continue
            if not self._day_matches(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
                continue
            if t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
                continue
            if t.minute not in self.minutes:
                t += timedelta(minutes=1)
                continue
            return _in_zone(t)
        raise CronError("the schedule never runs")


def _in_zone(t: datetime) -> datetime:
    """`t`'s wall time in its zone made real: a time a DST change skips moves past the gap."""
    if t.tzinfo is None:
        return t
    from datetime import timezone
    return t.astimezone(timezone.utc).astimezone(t.tzinfo)


def _value(text: str, low: int, high: int, names: dict[str, int], what: str) -> int:
    upper = text.upper()
    if upper in names:
        return names[upper]
    if not text.isdigit():
        raise CronError(f"failed to parse int from {text!r} in the {what} field")
    value = int(text)
    if not low <= value <= high:
        raise CronError(f"{what} value {value} out of range [{low}, {high}]")
    return value


def _field(text: str, low: int, high: int, names: dict[str, int], what: str) -> set[int]:
    out: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"empty value in the {what} field")
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"bad step {step_text!r} in the {what} field")
            step = int(step_text)
        if base in ("*", "?"):
            first, last = low, high
        else:
            start, dash, end = base.partition("-")
            first = _value(start, low, high, names, what)
            last = _value(end, low, high, names, what) if dash else (high if step_text else first)
            if first > last:
                raise CronError(f"beginning of range ({first}) beyond end of range ({last}) in "
                                f"the {what} field")
        out.update(range(first, last + 1, step))
    return out


def parse(text: str) -> Schedule:
    spec = text.strip()
    if re.search(r"\b(CRON_)?TZ=", spec):
        raise CronError("cannot use TZ or CRON_TZ in schedule, use timeZone field instead")
    if spec.startswith("@every"):
        try:
            every = timedelta(seconds=parse_duration(spec[len("@every"):].strip()))
        except ValueError as e:
            raise CronError(f"failed to parse duration {spec}: {e}") from None
        if every < timedelta(seconds=1):
            raise CronError(f"@every needs a duration of at least 1s: {spec}")
        return Schedule(frozenset(), frozenset(), frozenset(), frozenset(), frozenset(),
                        True, True, every)
    if spec.startswith("@"):
        if spec not in MACROS:
            raise CronError(f"unrecognized descriptor: {spec}")
        spec = MACROS[spec]
    parts = spec.split()
    if len(parts) != 5:
        raise CronError(f"expected exactly 5 fields, found {len(parts)}: {text!r}")
    values = [_field(p, low, high, names, what)
              for p, (what, low, high, names) in zip(parts, FIELDS)]
    weekdays = {d % 7 for d in values[4]}
    # the cron library's star bit: a bare * or ? (a step of 1 at most) leaves the field
    # unrestricted
    starred = ("*", "?", "*/1", "?/1")
    return Schedule(frozenset(values[0]), frozenset(values[1]), frozenset(values[2]),
                    frozenset(values[3]), frozenset(weekdays), parts[2] in starred,
                    parts[4] in starred)
