"""Festival and birthday dates: pure functions over the solar and Chinese lunar calendars.

Lunar dates come from ``lunar-python`` (a maintained implementation of the Chinese calendar).
Every function takes the year or date it is asked about; nothing reads the clock.

Birthday rules (decided here, tested in ``tests/test_calendar.py``):

- A lunar birthday on the 30th falls on the 29th in years whose month has only 29 days
  (没有三十就过二十九, the common practice).
- A lunar birthday is celebrated in the regular month; a leap month of the same number
  (闰月) does not give a second birthday.
- A solar birthday on 29 February falls on 28 February in common years.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from lunar_python import Lunar, LunarMonth, Solar


@dataclass(frozen=True)
class Festival:
    """A yearly festival: ``slug`` names it in dedupe keys and settings."""

    slug: str
    month: int
    day: int
    lunar: bool = False

    def date_in(self, year: int) -> dt.date:
        """The solar date of the festival in ``year`` (lunar festivals: lunar year ``year``).

        All lunar festivals here fall between the 1st and the 8th lunar month, so lunar year
        ``year`` and solar year ``year`` coincide for them.
        """
        if self.lunar:
            return lunar_to_solar(year, self.month, self.day)
        return dt.date(year, self.month, self.day)


FESTIVALS: tuple[Festival, ...] = (
    Festival("new-year", 1, 1),
    Festival("spring-festival", 1, 1, lunar=True),
    Festival("lantern", 1, 15, lunar=True),
    Festival("womens-day", 3, 8),
    Festival("520", 5, 20),
    Festival("dragon-boat", 5, 5, lunar=True),
    Festival("618", 6, 18),
    Festival("qixi", 7, 7, lunar=True),
    Festival("mid-autumn", 8, 15, lunar=True),
    Festival("national-day", 10, 1),
    Festival("double-11", 11, 11),
)
FESTIVALS_BY_SLUG = {f.slug: f for f in FESTIVALS}


@dataclass(frozen=True)
class Occasion:
    """One occurrence of a yearly event: its solar date and the year used in its dedupe key."""

    key_year: int
    date: dt.date


def lunar_to_solar(year: int, month: int, day: int, *, leap: bool = False) -> dt.date:
    """The solar date of lunar ``year``-``month``-``day`` (``leap``: in the leap month)."""
    solar = Lunar.fromYmd(year, -month if leap else month, day).getSolar()
    return dt.date(solar.getYear(), solar.getMonth(), solar.getDay())


def lunar_month_days(year: int, month: int) -> int:
    """Days in the regular lunar month ``month`` of lunar ``year`` (29 or 30)."""
    return LunarMonth.fromYm(year, month).getDayCount()


def lunar_birthday(year: int, month: int, day: int) -> dt.date:
    """The solar date of a lunar birthday in lunar ``year`` (30th → 29th in a short month)."""
    return lunar_to_solar(year, month, min(day, lunar_month_days(year, month)))


def solar_birthday(year: int, month: int, day: int) -> dt.date:
    """The solar birthday in ``year`` (29 February → 28 February in common years)."""
    if month == 2 and day == 29 and not _is_leap_year(year):
        return dt.date(year, 2, 28)
    return dt.date(year, month, day)


def _is_leap_year(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def festival_occasions(festival: Festival, start: dt.date, end: dt.date) -> list[Occasion]:
    """Occurrences of ``festival`` with a date in ``[start, end]``."""
    found = []
    for year in range(start.year, end.year + 1):
        date = festival.date_in(year)
        if start <= date <= end:
            found.append(Occasion(year, date))
    return found


def birthday_occasions(month: int, day: int, is_lunar: bool, start: dt.date, end: dt.date) -> list[Occasion]:
    """Occurrences of a birthday with a date in ``[start, end]``.

    The key year is the birthday's year in its own calendar: a lunar birthday in the 12th month
    of lunar 2026 falls in January or February 2027 and is keyed 2026.
    """
    found = []
    for year in range(start.year - 1, end.year + 1):
        date = lunar_birthday(year, month, day) if is_lunar else solar_birthday(year, month, day)
        if start <= date <= end:
            found.append(Occasion(year, date))
    return found


@dataclass(frozen=True)
class BirthdayMatch:
    """Stored birthdays (month, day, lunar?) that fall on one solar date, and that date's key year."""

    date: dt.date
    is_lunar: bool
    month: int
    days: tuple[int, ...]
    key_year: int


def birthdays_on(date: dt.date) -> list[BirthdayMatch]:
    """Which stored birthdays fall on ``date``: one solar and (unless in a leap month) one lunar match.

    This is the inverse of :func:`birthday_occasions`, used to query customers by an index on
    (month, day) instead of computing every customer's birthday.
    """
    solar_days = [date.day]
    if date.month == 2 and date.day == 28 and not _is_leap_year(date.year):
        solar_days.append(29)
    matches = [BirthdayMatch(date, False, date.month, tuple(solar_days), date.year)]
    lunar = Solar.fromYmd(date.year, date.month, date.day).getLunar()
    if lunar.getMonth() > 0:  # a leap month (negative) holds no birthdays
        lunar_days = [lunar.getDay()]
        if lunar.getDay() == 29 and lunar_month_days(lunar.getYear(), lunar.getMonth()) == 29:
            lunar_days.append(30)
        matches.append(BirthdayMatch(date, True, lunar.getMonth(), tuple(lunar_days), lunar.getYear()))
    return matches


def date_range(start: dt.date, end: dt.date) -> Iterable[dt.date]:
    """Every date from ``start`` to ``end`` inclusive."""
    day = start
    while day <= end:
        yield day
        day += dt.timedelta(days=1)


def greeting_window(today: dt.date, lead_days: int) -> tuple[dt.date, dt.date]:
    """Events whose greeting is due on ``today``: dated from today to ``lead_days`` ahead.

    A greeting is due ``lead_days`` before the event; a missed one (downtime) is still sent
    until the day itself, never after.
    """
    return today, today + dt.timedelta(days=lead_days)
