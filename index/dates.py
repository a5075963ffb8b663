"""Article dates: the ingestion format's date line, and a date inferred from an article's text.

Inference is regex-only (it runs over every undated article at ingestion) and conservative: it
returns a date only when the text states the day and states or implies the year.
"""

from __future__ import annotations

import calendar
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import cached_property

_MONTH_NAMES = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_MONTH_ABBREVIATIONS = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "sept": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_ABBREVIATIONS = {
    "mon": 0,
    "tue": 1,
    "tues": 1,
    "wed": 2,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "fri": 4,
    "sat": 5,
    "sun": 6,
}
MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)} | _MONTH_ABBREVIATIONS
WEEKDAYS = {name: number for number, name in enumerate(_WEEKDAY_NAMES)} | _WEEKDAY_ABBREVIATIONS

YEAR = r"(?<![\d,.])(?:19|20)\d\d(?!\d|[.,]\d)"
"""A four-digit year, not part of a longer number such as 12,2022 or 2022.5."""

_WEEKDAY_LOOKBACK = 29
"""Years searched for a month-day on a given weekday: the calendar repeats within 28 years."""


def _names(full: Iterable[str], abbreviations: Iterable[str], case_sensitive: bool) -> str:
    """An alternation of names; abbreviations may end with a dot ("Sept.").

    Case-sensitive means capitalised or upper case only: in running text "may" and "march" are
    verbs. The pattern is meant for a regex compiled with or without re.IGNORECASE alike.
    """
    words = [*full, *(rf"{word}\.?" for word in abbreviations)]
    if case_sensitive:
        variants = (variant for word in words for variant in (word.capitalize(), word.upper()))
        return "(?-i:" + "|".join(variants) + r")(?![\w-])"
    return "(?:" + "|".join(words) + r")(?![\w-])"


def month_pattern(case_sensitive: bool) -> str:
    """A month name or abbreviation, not followed by a letter or hyphen ("Mar-a-Lago")."""
    return _names(_MONTH_NAMES, _MONTH_ABBREVIATIONS, case_sensitive)


def weekday_pattern(case_sensitive: bool, abbreviations: bool = True) -> str:
    """A weekday name; abbreviations ("Wed.") only where a date follows, as "Sun" alone is not."""
    return _names(_WEEKDAY_NAMES, _WEEKDAY_ABBREVIATIONS if abbreviations else (), case_sensitive)


_ASCII_LOOKALIKES = str.maketrans({"ı": "i", "ſ": "s", "\u0307": ""})


def fold(text: str) -> str:
    """Lower case as re.IGNORECASE sees it, where "ſ" matches "s" and "İ" or "ı" match "i"."""
    return text.lower().translate(_ASCII_LOOKALIKES)


def month_number(name: str) -> int:
    return MONTHS[fold(name.rstrip("."))]


def weekday_number(name: str) -> int:
    return WEEKDAYS[fold(name.rstrip("."))]


def safe_date(year: int, month: int, day: int) -> date | None:
    """The date, or None for an impossible one: text is not trusted to hold only valid dates."""
    try:
        return date(year, month, day)
    except ValueError:
        return None


def month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def latest_date_on_weekday(month: int, day: int, weekday: int, today: date) -> date | None:
    """The most recent month-day on or before `today` that fell on `weekday`.

    This is how "Wednesday, June 1" gets its year when nothing else gives one.
    """
    for year in range(today.year, today.year - _WEEKDAY_LOOKBACK, -1):
        found = safe_date(year, month, day)
        if found is not None and found <= today and found.weekday() == weekday:
            return found
    return None


_DATE_LINE = re.compile(r"[ \t]*date[ \t]+(\d{4})-(\d{2})-(\d{2})(?![\w-])[ \t]*")


def parse_date_line(first_line: str) -> tuple[date, int] | None:
    """The date of a ` date YYYY-MM-DD Headline` first line, and where the rest of the line starts.

    None when the line is not a date line or its date is impossible (the caller reports that).
    """
    found = _DATE_LINE.match(first_line)
    if found is None:
        return None
    year, month, day = (int(part) for part in found.groups())
    parsed = safe_date(year, month, day)
    return None if parsed is None else (parsed, found.end())


_MONTH = month_pattern(case_sensitive=True)
_MONTH_TOKEN = re.compile(_MONTH)
_ORDINAL = r"(?:st|nd|rd|th)?"
_MENTION = re.compile(
    rf"(?<![\w.,-])(?:(?P<weekday>{weekday_pattern(case_sensitive=True)}),?\s+)?"
    rf"(?:(?P<month>{_MONTH})\s+(?P<day>[0-3]?\d){_ORDINAL}(?!\d|[.,:]\d)"
    rf"|(?:the\s+)?(?P<day2>[0-3]?\d){_ORDINAL}\s+(?:of\s+)?(?P<month2>{_MONTH}))"
    rf"(?:,?\s+(?P<year>{YEAR}))?"
)
_BEFORE_MONTH = 32
"""How far a mention may start before its month name: "Wednesday, the 1st of June"."""
_AFTER_MONTH = 16
"""How far it may end after it: "June 1st, 2022", and room for the year's lookahead."""
_ISO_TOKEN = re.compile(r"(?:19|20)\d\d-[01]\d-[0-3]\d")
_ISO = re.compile(r"(?<![\w-])(\d{4})-(\d\d)-(\d\d)(?![\w-])")
_WEEKDAY_WORD = re.compile(weekday_pattern(case_sensitive=True, abbreviations=False))
_SENTENCE_BREAK = re.compile(r"\n+|(?<=[.!?])[\"'”’)]*\s+(?=[\"“‘(]?[A-Z])")
_MARKS = re.compile(r"\s+marks\b")
_TODAY = re.compile(r"\b[Tt]oday\b")
_LEAD_SENTENCES = 3
"""A weekday in the lead ("... on Saturday") dates the article's year-less days."""


@dataclass(frozen=True)
class _Mention:
    start: int
    end: int
    month: int
    day: int
    year: int | None
    weekday: int | None


def _mentions(text: str) -> list[_Mention]:
    """Day mentions in text order. The full pattern runs only around month names found by a
    plain scan, which the regex engine does far faster than trying the pattern everywhere."""
    found = []
    end = 0
    for token in _MONTH_TOKEN.finditer(text):
        if token.start() < end:
            continue
        start = max(end, token.start() - _BEFORE_MONTH)
        match = _MENTION.search(text, start, token.end() + _AFTER_MONTH)
        if match is None:
            continue
        end = match.end()
        found.append(
            _Mention(
                match.start(),
                match.end(),
                month_number(match["month"] or match["month2"]),
                int(match["day"] or match["day2"]),
                int(match["year"]) if match["year"] else None,
                weekday_number(match["weekday"]) if match["weekday"] else None,
            )
        )
    for token in _ISO_TOKEN.finditer(text):
        iso = _ISO.match(text, token.start())
        if iso is not None:
            year, month, day = (int(part) for part in iso.groups())
            found.append(_Mention(iso.start(), iso.end(), month, day, year, None))
    return sorted(found, key=lambda mention: mention.start)


class _Sentences:
    """Sentence bounds of a text and the weekdays named in it, computed only if a mention needs
    them (a year-less day, or a text that says "today")."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.says_today = _TODAY.search(text) is not None

    @cached_property
    def starts(self) -> list[int]:
        return [0, *(found.end() for found in _SENTENCE_BREAK.finditer(self.text))]

    @cached_property
    def weekdays(self) -> list[tuple[int, int]]:
        return [
            (found.start(), weekday_number(found[0])) for found in _WEEKDAY_WORD.finditer(self.text)
        ]

    def around(self, position: int) -> tuple[int, int]:
        index = bisect_right(self.starts, position) - 1
        end = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.text)
        return self.starts[index], end

    def weekday_near(self, mention: _Mention) -> int | None:
        """The weekday nearest the mention in its sentence, else the first one in the lead."""
        start, end = self.around(mention.start)
        nearby = [
            (abs(position - mention.start), weekday)
            for position, weekday in self.weekdays
            if start <= position < end and not mention.start <= position < mention.end
        ]
        if nearby:
            return min(nearby)[1]
        starts = self.starts
        lead_end = starts[_LEAD_SENTENCES] if len(starts) > _LEAD_SENTENCES else len(self.text)
        return next((weekday for position, weekday in self.weekdays if position < lead_end), None)

    def is_present(self, mention: _Mention) -> bool:
        """Does the text say this day is the day of writing ("June 1 marks...", "today")?"""
        if mention.weekday is not None or _MARKS.match(self.text, mention.end):
            return True
        if not self.says_today:
            return False
        start, end = self.around(mention.start)
        return _TODAY.search(self.text, start, end) is not None


def _resolve(
    mention: _Mention, text_year: int | None, sentences: _Sentences, today: date
) -> date | None:
    """The mention's date: its own year, else the text's year, else a weekday that fits.

    A mention whose attached weekday contradicts its date ("Monday, June 1, 2022") is dropped.
    """
    year = mention.year if mention.year is not None else text_year
    if year is not None:
        found = safe_date(year, mention.month, mention.day)
        if found is None or mention.weekday not in (None, found.weekday()):
            return None
        return found
    weekday = mention.weekday if mention.weekday is not None else sentences.weekday_near(mention)
    if weekday is None:
        return None
    return latest_date_on_weekday(mention.month, mention.day, weekday, today)


def infer_article_date(text: str, today: date | None = None) -> date | None:
    """The article's date as its own text gives it, or None when the text does not support one.

    Among the dates mentioned (none after `today`), one the text marks as the present wins
    ("on Wednesday, June 1", "June 1 marks the 98th day", "today"); otherwise the latest.
    """
    today = today or date.today()
    mentions = _mentions(text)
    if not mentions:
        return None
    years = Counter(mention.year for mention in mentions if mention.year is not None)
    text_year = max(years, key=lambda year: (years[year], year)) if years else None
    sentences = _Sentences(text)
    latest: date | None = None
    present: date | None = None
    for mention in mentions:
        found = _resolve(mention, text_year, sentences, today)
        if found is None or found > today:
            continue
        latest = max(latest or found, found)
        if sentences.is_present(mention):
            present = max(present or found, found)
    return present or latest
