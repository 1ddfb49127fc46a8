"""Festival and birthday dates over several years (scheduler/calendar.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from lunardate import LunarDate

from scheduler import calendar

D = dt.date

# Published dates (China's State Council holiday notices / standard almanacs).
LUNAR_FESTIVALS = [
    ("spring-festival", 2025, D(2025, 1, 29)),
    ("spring-festival", 2026, D(2026, 2, 17)),
    ("spring-festival", 2027, D(2027, 2, 6)),
    ("spring-festival", 2028, D(2028, 1, 26)),
    ("lantern", 2026, D(2026, 3, 3)),
    ("lantern", 2027, D(2027, 2, 20)),
    ("dragon-boat", 2025, D(2025, 5, 31)),
    ("dragon-boat", 2026, D(2026, 6, 19)),
    ("dragon-boat", 2027, D(2027, 6, 9)),
    ("qixi", 2026, D(2026, 8, 19)),
    ("qixi", 2027, D(2027, 8, 8)),
    ("mid-autumn", 2025, D(2025, 10, 6)),
    ("mid-autumn", 2026, D(2026, 9, 25)),
    ("mid-autumn", 2027, D(2027, 9, 15)),
    ("mid-autumn", 2028, D(2028, 10, 3)),
]


@pytest.mark.parametrize(("slug", "year", "expected"), LUNAR_FESTIVALS)
def test_lunar_festival_dates(slug, year, expected):
    assert calendar.FESTIVALS_BY_SLUG[slug].date_in(year) == expected


@pytest.mark.parametrize(
    ("slug", "expected"),
    [
        ("new-year", D(2027, 1, 1)),
        ("womens-day", D(2027, 3, 8)),
        ("520", D(2027, 5, 20)),
        ("618", D(2027, 6, 18)),
        ("national-day", D(2027, 10, 1)),
        ("double-11", D(2027, 11, 11)),
    ],
)
def test_solar_festival_dates(slug, expected):
    assert calendar.FESTIVALS_BY_SLUG[slug].date_in(2027) == expected


@pytest.mark.parametrize("year", range(2024, 2036))
def test_lunar_festivals_agree_with_a_second_library(year):
    for festival in calendar.FESTIVALS:
        if festival.lunar:
            assert festival.date_in(year) == LunarDate(year, festival.month, festival.day).to_solar_date()


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (D(2026, 9, 22), []),
        (D(2026, 9, 23), [D(2026, 9, 25)]),  # two days ahead
        (D(2026, 9, 25), [D(2026, 9, 25)]),  # caught up until the day itself
        (D(2026, 9, 26), []),  # never after
        (D(2027, 9, 13), [D(2027, 9, 15)]),
    ],
)
def test_mid_autumn_greeting_window(today, expected):
    start, end = calendar.greeting_window(today, 2)
    found = calendar.festival_occasions(calendar.FESTIVALS_BY_SLUG["mid-autumn"], start, end)
    assert [o.date for o in found] == expected


def test_greeting_window_across_the_new_year():
    start, end = calendar.greeting_window(D(2026, 12, 30), 2)
    found = calendar.festival_occasions(calendar.FESTIVALS_BY_SLUG["new-year"], start, end)
    assert found == [calendar.Occasion(2027, D(2027, 1, 1))]


@pytest.mark.parametrize(
    ("year", "month", "day", "expected"),
    [
        (2026, 8, 15, D(2026, 9, 25)),
        (2027, 8, 15, D(2027, 9, 15)),
        # 三十 in a 29-day month: the 29th (2nd month of 2026 has 29 days, of 2027 has 30)
        (2026, 2, 30, D(2026, 4, 16)),
        (2027, 2, 30, D(2027, 4, 6)),
        (2026, 2, 29, D(2026, 4, 16)),
        # 2025 has a leap 6th month: the birthday stays in the regular 6th month
        (2025, 6, 10, D(2025, 7, 4)),
    ],
)
def test_lunar_birthday(year, month, day, expected):
    assert calendar.lunar_birthday(year, month, day) == expected


def test_lunar_month_lengths():
    assert calendar.lunar_month_days(2026, 2) == 29
    assert calendar.lunar_month_days(2027, 2) == 30


def test_leap_month_gives_no_second_birthday():
    # 2025-07-25 is the 1st of the leap 6th month (闰六月初一): no lunar birthday falls on it.
    matches = calendar.birthdays_on(D(2025, 7, 25))
    assert [m.is_lunar for m in matches] == [False]
    # The regular 6th month's 1st (2025-06-25) does carry lunar 6/1 birthdays.
    lunar = [m for m in calendar.birthdays_on(D(2025, 6, 25)) if m.is_lunar]
    assert [(m.month, m.days) for m in lunar] == [(6, (1,))]


def test_lunar_thirtieth_birthday_matches_the_29th_of_a_short_month():
    lunar = [m for m in calendar.birthdays_on(D(2026, 4, 16)) if m.is_lunar]
    assert [(m.month, m.days, m.key_year) for m in lunar] == [(2, (29, 30), 2026)]
    lunar = [m for m in calendar.birthdays_on(D(2027, 4, 6)) if m.is_lunar]
    assert [(m.month, m.days) for m in lunar] == [(2, (30,))]


@pytest.mark.parametrize(("year", "expected"), [(2027, D(2027, 2, 28)), (2028, D(2028, 2, 29))])
def test_solar_29_february(year, expected):
    assert calendar.solar_birthday(year, 2, 29) == expected
    solar = [m for m in calendar.birthdays_on(expected) if not m.is_lunar]
    assert 29 in solar[0].days


def test_late_lunar_birthday_is_keyed_by_its_lunar_year():
    found = calendar.birthday_occasions(12, 20, True, D(2027, 1, 1), D(2027, 12, 31))
    assert found == [calendar.Occasion(2026, D(2027, 1, 27))]


@pytest.mark.parametrize("year", [2025, 2026, 2028])
def test_every_lunar_birthday_is_found_on_its_date(year):
    """birthdays_on is the exact inverse of lunar_birthday for every month and day."""
    for month in range(1, 13):
        for day in range(1, 31):
            date = calendar.lunar_birthday(year, month, day)
            lunar = [m for m in calendar.birthdays_on(date) if m.is_lunar]
            assert lunar and lunar[0].month == month and day in lunar[0].days, (year, month, day)
