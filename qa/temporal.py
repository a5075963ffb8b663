"""Time in questions (a window over article dates) and in answers (the dates events happened).

One regex grammar of date expressions serves both. A question resolves year-less dates to the
most recent one up to `today`; an answer sentence resolves them against its article's date.
Detection is regex-only so that questions without time words cost microseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, timedelta

from index.dates import (
    YEAR,
    fold,
    latest_date_on_weekday,
    month_end,
    month_number,
    month_pattern,
    safe_date,
    weekday_number,
    weekday_pattern,
)

Range = tuple[date, date]


@dataclass(frozen=True)
class TimeFilter:
    """A window over article dates set by a question's words (`text`, at the offsets given)."""

    since: date | None
    until: date | None
    text: str
    char_start: int
    char_end: int
    recency: bool


@dataclass(frozen=True)
class EventDateRef:
    """A date expression in an answer sentence (article offsets) and the days it stands for."""

    text: str
    char_start: int
    char_end: int
    start: date
    end: date


@dataclass(frozen=True)
class _Partial:
    """A calendar expression whose year may be missing, to be filled from an anchor date or
    from the other end of a range ("between May and July 2022")."""

    year: int | None
    month: int | None = None
    day: int | None = None
    season: int | None = None
    weekday: int | None = None
    part: str | None = None


_NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "couple of": 2,
    "few": 3,
    "several": 3,
}
_NUMBER = r"\d{1,3}|" + "|".join(word.replace(" ", r"\s+") for word in _NUMBER_WORDS)
_UNIT = r"days?|weeks?|months?|years?"
_SEASON_START = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}
_SEASON = "|".join(_SEASON_START)
_PART = (
    r"early|mid|late|the\s+(?:start|beginning|middle|end)\s+of"
    r"|(?:the\s+)?(?:first|second|third|fourth|last|final)\s+week\s+of"
    r"|(?:the\s+)?(?:first|second)\s+half\s+of"
)
_THIRDS = {"early": 0, "start": 0, "beginning": 0, "mid": 1, "middle": 1, "late": 2, "end": 2}
_ORDINALS = {"first": 0, "second": 1, "third": 2, "fourth": 3, "last": -1, "final": -1}
_DAY_WORDS = {"today": 0, "tonight": 0, "yesterday": -1, "tomorrow": 1, "last night": -1}
_AGO_PRECISION = {"year": "month"}
"""How precise "N units ago" is: "a year ago" means about this time last year, so its month."""
_VERB_MONTHS = frozenset({"may", "march"})
_FUTURE_TOLERANCE = timedelta(days=60)
"""A year-less date this far after the article date is still this year's ("scheduled for...")."""


def _grammar(case_sensitive: bool) -> re.Pattern[str]:
    month = month_pattern(case_sensitive)
    weekday = weekday_pattern(case_sensitive)
    ordinal = r"(?:st|nd|rd|th)?"
    return re.compile(
        rf"""(?<![\w-])(?:
          (?P<iso>(?P<iso_y>(?:19|20)\d\d)-(?P<iso_m>[01]?\d)-(?P<iso_d>[0-3]?\d)(?![\d-]))
        | (?P<md>(?:(?P<md_wd>{weekday}),?\s+)?(?P<md_mon>{month})\s+(?P<md_day>[0-3]?\d){ordinal}
            (?!\d|[.,:]\d)(?:,?\s+(?P<md_y>{YEAR}))?)
        | (?P<dm>(?:(?P<dm_wd>{weekday}),?\s+)?(?:the\s+)?(?P<dm_day>[0-3]?\d){ordinal}\s+
            (?:of\s+)?(?P<dm_mon>{month})(?:,?\s+(?P<dm_y>{YEAR}))?)
        | (?P<mon>(?:(?P<mon_part>{_PART})(?:-|\s+))?(?P<mon_mon>{month})
            (?:,?\s+(?P<mon_y>{YEAR}))?)
        | (?P<yr>(?:(?P<yr_part>{_PART})(?:-|\s+))?(?P<yr_the>the\s+year\s+)?(?P<yr_y>{YEAR}))
        | (?P<ssn>(?:the\s+)?(?P<ssn_s>{_SEASON})(?:(?:\s+of)?\s+(?P<ssn_y>{YEAR})|(?!\s+of\b)))
        | (?P<rel>(?P<rel_the>the\s+)?
            (?P<rel_mod>past|last|previous|this|current|next|coming|earlier\s+this|later\s+this)\s+
            (?:(?P<rel_n>{_NUMBER})\s+)?(?P<rel_unit>{_UNIT}|{_SEASON}))
        | (?P<ago>(?P<ago_n>{_NUMBER})\s+(?P<ago_unit>{_UNIT})\s+ago)
        | (?P<word>today|tonight|yesterday|tomorrow|last\s+night)
        | (?P<wk>(?:(?P<wk_mod>this\s+past|this\s+coming|last|next|this)\s+)?
            (?P<wk_day>{weekday_pattern(case_sensitive, abbreviations=False)}))
        )(?!\w)""",
        re.IGNORECASE | re.VERBOSE,
    )


_QUESTION_GRAMMAR = _grammar(case_sensitive=False)
_SENTENCE_GRAMMAR = _grammar(case_sensitive=True)

_PREPOSITIONS = (
    r"in|on|at|of|for|during|throughout|over|within|around|since|after|from|starting"
    r"|before|prior\s+to|until|till|through|up\s+to|by|as\s+of|between"
)
_PREPOSITION = re.compile(rf"(?<![\w-])(?P<word>{_PREPOSITIONS})\s+\Z", re.IGNORECASE)
_PREPOSITION_REACH = 16
"""How far back a preposition can start: "prior to " and some spacing."""
_TRAILING_PREPOSITION = re.compile(rf"(?:^|\s+)(?:{_PREPOSITIONS})\Z", re.IGNORECASE)
_RANGE_JOIN = re.compile(r"\s*(?:and|to|until|till|through|[-–—])\s+", re.IGNORECASE)
_SINCE = frozenset({"since", "from", "starting"})
_BEFORE = frozenset({"before", "prior to"})
_UNTIL = frozenset({"until", "till", "through", "up to", "by", "as of"})
_RECENCY = re.compile(
    r"\b(?:latest|newest|most\s+recent(?:ly)?|recent(?:ly)?|now|nowadays|current(?:ly)?"
    r"|so\s+far|to\s+date|these\s+days|at\s+present|presently)\b",
    re.IGNORECASE,
)
_CLAUSE_BREAK = re.compile(r"[,;:()\"“”—–]|\b(?:that|and|but|while|when)\b", re.IGNORECASE)
_FUTURE = re.compile(
    r"\b(?:will|shall|won['’]t|(?:set|scheduled)\s+(?:to|for)|(?:is|are)\s+(?:due|expected|going)"
    r"\s+to|plans?\s+to|upcoming)\b|['’]ll\b",
    re.IGNORECASE,
)


def _words(text: str) -> str:
    return " ".join(fold(text).split())


def _optional_int(text: str | None) -> int | None:
    return None if text is None else int(text)


def _count(text: str) -> int:
    word = _words(text)
    return int(word) if word.isdigit() else _NUMBER_WORDS[word]


def _shift(day: date, unit: str, count: int) -> date:
    if unit == "day":
        return day + timedelta(days=count)
    if unit == "week":
        return day + timedelta(weeks=count)
    years, month = divmod(day.month - 1 + count * (12 if unit == "year" else 1), 12)
    end = month_end(day.year + years, month + 1)
    return end.replace(day=min(day.day, end.day))


def _calendar(unit: str, day: date) -> Range:
    """The calendar day, week (Monday to Sunday), month or year containing `day`."""
    if unit == "day":
        return day, day
    if unit == "week":
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=6)
    if unit == "month":
        return day.replace(day=1), month_end(day.year, day.month)
    return date(day.year, 1, 1), date(day.year, 12, 31)


def _season(start_month: int, year: int) -> Range:
    """A meteorological season; winter 2022 runs from December 2022 into February 2023."""
    end = _shift(date(year, start_month, 1), "month", 2)
    return date(year, start_month, 1), month_end(end.year, end.month)


def _season_relative(modifier: str, start_month: int, anchor: date) -> Range | None:
    seasons = [_season(start_month, year) for year in range(anchor.year - 2, anchor.year + 2)]
    if modifier in ("last", "previous"):
        return max((season for season in seasons if season[1] < anchor), default=None)
    if modifier in ("next", "coming"):
        return min((season for season in seasons if season[0] > anchor), default=None)
    this = next((s for s in seasons if s[0] <= anchor <= s[1]), _season(start_month, anchor.year))
    if modifier == "earlier this":
        return (this[0], anchor) if this[0] <= anchor else None
    if modifier == "later this":
        return (anchor, this[1]) if anchor <= this[1] else None
    return this


def _with_part(year: int, month: int | None, part: str) -> Range | None:
    """early/mid/late, halves and weeks of a month (early June: 1-10) or of a year (early 2023:
    January-April)."""
    words = _words(part).split()
    if "week" in words:
        if month is None:
            return None
        last = month_end(year, month).day
        ordinal = _ORDINALS[words[words.index("week") - 1]]
        first = last - 6 if ordinal < 0 else 7 * ordinal + 1
        return date(year, month, first), date(year, month, first + 6)
    if "half" in words:
        index = 0 if "first" in words else 1
        spans = [(1, 15), (16, 31)] if month is not None else [(1, 6), (7, 12)]
    else:
        index = next(_THIRDS[word] for word in words if word in _THIRDS)
        spans = [(1, 10), (11, 20), (21, 31)] if month is not None else [(1, 4), (5, 8), (9, 12)]
    first, last = spans[index]
    if month is None:
        return date(year, first, 1), month_end(year, last)
    return date(year, month, first), date(year, month, min(last, month_end(year, month).day))


def _partial_range(partial: _Partial, year: int) -> Range | None:
    if partial.season is not None:
        return _season(partial.season, year)
    if partial.part is not None:
        return _with_part(year, partial.month, partial.part)
    if partial.month is None:
        return date(year, 1, 1), date(year, 12, 31)
    if partial.day is None:
        return date(year, partial.month, 1), month_end(year, partial.month)
    found = safe_date(year, partial.month, partial.day)
    return None if found is None else (found, found)


def _fill(partial: _Partial, anchor: date | None, recent: bool) -> Range | None:
    """The partial's range, its missing year taken from the anchor.

    `recent` (questions): the most recent such day or month up to the anchor, using an attached
    weekday when there is one. Otherwise (articles): the anchor's year, or the year before if
    that would put it well after the anchor.
    """
    if partial.year is not None:
        return _partial_range(partial, partial.year)
    if anchor is None:
        return None
    if not recent:
        found = _partial_range(partial, anchor.year)
        if found is None or found[0] > anchor + _FUTURE_TOLERANCE:
            found = _partial_range(partial, anchor.year - 1)
        return found
    if partial.weekday is not None and partial.month is not None and partial.day is not None:
        day = latest_date_on_weekday(partial.month, partial.day, partial.weekday, anchor)
        return None if day is None else (day, day)
    for year in range(anchor.year, anchor.year - 5, -1):  # back past a leap year: February 29
        found = _partial_range(partial, year)
        if found is not None and found[0] <= anchor:
            return found
    return None


def _relative(match: re.Match[str], anchor: date) -> Range | None:
    """A calendar unit ("last month") or a stretch up to the anchor ("the past 3 weeks")."""
    modifier = _words(match["rel_mod"])
    unit = _words(match["rel_unit"]).removesuffix("s")
    if unit in _SEASON_START:
        bare = not (match["rel_n"] or match["rel_the"])
        return _season_relative(modifier, _SEASON_START[unit], anchor) if bare else None
    if unit == "day" and not match["rel_n"]:
        return None  # "the next day" counts from the story's events, not from the anchor
    if (
        match["rel_n"]
        or modifier in ("past", "previous")
        or (match["rel_the"] and modifier in ("last", "next"))
    ):
        count = _count(match["rel_n"]) if match["rel_n"] else 1
        if modifier in ("next", "coming"):
            return anchor, _shift(anchor, unit, count)
        if modifier in ("past", "last", "previous"):
            return _shift(anchor, unit, -count), anchor
        return None
    offset = {"last": -1, "next": 1, "coming": 1}.get(modifier, 0)
    start, end = _calendar(unit, _shift(anchor, unit, offset))
    if modifier == "earlier this":
        return start, anchor
    if modifier == "later this":
        return anchor, end
    return start, end


def _item(match: re.Match[str], anchor: date | None) -> _Partial | Range | None:
    """What a grammar match says: a partial date, a resolved range, or None."""
    kind = match.lastgroup
    if kind == "iso":
        day = safe_date(int(match["iso_y"]), int(match["iso_m"]), int(match["iso_d"]))
        return None if day is None else (day, day)
    if kind in ("md", "dm"):
        weekday = match[f"{kind}_wd"]
        return _Partial(
            _optional_int(match[f"{kind}_y"]),
            month_number(match[f"{kind}_mon"]),
            int(match[f"{kind}_day"]),
            weekday=None if weekday is None else weekday_number(weekday),
        )
    if kind == "mon":
        return _Partial(
            _optional_int(match["mon_y"]), month_number(match["mon_mon"]), part=match["mon_part"]
        )
    if kind == "yr":
        return _Partial(int(match["yr_y"]), part=match["yr_part"])
    if kind == "ssn":
        return _Partial(_optional_int(match["ssn_y"]), season=_SEASON_START[_words(match["ssn_s"])])
    if anchor is None:
        return None
    if kind == "rel":
        return _relative(match, anchor)
    if kind == "ago":
        unit = _words(match["ago_unit"]).removesuffix("s")
        day = _shift(anchor, unit, -_count(match["ago_n"]))
        return _calendar(_AGO_PRECISION.get(unit, unit), day)
    if kind == "word":
        day = anchor + timedelta(days=_DAY_WORDS[_words(match["word"])])
        return day, day
    return None  # a weekday: the caller decides, as it alone knows the tense


def _resolve(item: _Partial | Range, anchor: date | None, recent: bool) -> Range | None:
    return item if isinstance(item, tuple) else _fill(item, anchor, recent)


def _needs_preposition(match: re.Match[str]) -> bool:
    """A bare month, year or season ("March", "2000", "spring") is only a date after "in" etc.;
    so is a lower-case verb-like month with a day but no year ("what may 2 brigades do")."""
    kind = match.lastgroup
    if kind in ("md", "dm"):
        return match[f"{kind}_mon"] in _VERB_MONTHS and not match[f"{kind}_y"]
    if kind == "mon":
        return not (match["mon_y"] or match["mon_part"])
    if kind == "yr":
        return not (match["yr_part"] or match["yr_the"])
    return kind == "ssn" and not match["ssn_y"]


def _preposition(text: str, start: int) -> re.Match[str] | None:
    return _PREPOSITION.search(text, max(0, start - _PREPOSITION_REACH), start)


def _bounds(preposition: str, span: Range) -> tuple[date | None, date | None]:
    """ "since June" opens at its start, "after June" at its end; "before"/"until" likewise."""
    start, end = span
    if preposition in _SINCE:
        return start, None
    if preposition == "after":
        return end + timedelta(days=1), None
    if preposition in _BEFORE:
        return None, start - timedelta(days=1)
    if preposition in _UNTIL:
        return None, end
    return start, end


def _span(first: _Partial | Range, second: _Partial | Range, today: date) -> Range | None:
    """From the start of `first` to the end of `second`; a year one of them lacks comes from the
    other, a year earlier or later if the range would otherwise run backwards."""
    if isinstance(first, _Partial) and isinstance(second, _Partial) and first.year is None:
        end = _fill(second, today, recent=True)
        if end is None:
            return None
        first = replace(first, year=end[0].year)
        start = _fill(first, today, recent=True)
        if start is not None and start[0] > end[1]:
            start = _fill(replace(first, year=end[0].year - 1), today, recent=True)
    elif (
        isinstance(first, _Partial)
        and isinstance(second, _Partial)
        and second.year is None
        and first.year is not None
    ):
        start = _fill(first, today, recent=True)
        end = _fill(replace(second, year=first.year), today, recent=True)
        if start is not None and end is not None and end[1] < start[0]:
            end = _fill(replace(second, year=first.year + 1), today, recent=True)
    else:
        start, end = _resolve(first, today, recent=True), _resolve(second, today, recent=True)
    if start is None or end is None or start[0] > end[1]:
        return None
    return start[0], end[1]


def _question_window(
    question: str, match: re.Match[str], today: date
) -> tuple[date | None, date | None, int, int] | None:
    if match.lastgroup == "wk":
        return None  # "on Wednesday": no anchor says which Wednesday
    found = _preposition(question, match.start())
    preposition = _words(found["word"]) if found else ""
    if not preposition and _needs_preposition(match):
        return None
    first = _item(match, today)
    if first is None:
        return None
    start = found.start() if found else match.start()
    if preposition in ("between", "from"):
        join = _RANGE_JOIN.match(question, match.end())
        second = _QUESTION_GRAMMAR.match(question, join.end()) if join else None
        other = _item(second, today) if second else None
        span = _span(first, other, today) if other is not None else None
        if second is not None and span is not None:
            return span[0], span[1], start, second.end()
    span = _resolve(first, today, recent=True)
    if span is None:
        return None
    since, until = _bounds(preposition, span)
    if since is not None and since > today:
        return None  # "next year": no article can be dated in it yet
    return since, until, start, match.end()


def parse_question_time(question: str, today: date) -> TimeFilter | None:
    """The first time expression in a question as a window over article dates, or None.

    `today` anchors year-less and relative words; pass the newest article date for a corpus that
    ended in the past. Recency words ("latest", "now") set `recency` and no window of their own.
    """
    recency = _RECENCY.search(question) is not None
    for match in _QUESTION_GRAMMAR.finditer(question):
        window = _question_window(question, match, today)
        if window is not None:
            since, until, start, end = window
            return TimeFilter(since, until, question[start:end], start, end, recency)
    return TimeFilter(None, None, "", 0, 0, recency=True) if recency else None


def strip_expression(question: str, time_filter: TimeFilter) -> str:
    """The question without the time expression, so its words do not steer retrieval."""
    if time_filter.char_end <= time_filter.char_start:
        return question
    head = question[: time_filter.char_start].rstrip()
    tail = question[time_filter.char_end :].lstrip()
    if not tail or tail[0] in ",.;:?!":
        head = _TRAILING_PREPOSITION.sub("", head)
    if not head:
        return tail.lstrip(",;: ")
    return head + ("" if not tail or tail[0] in ",.;:?!" else " ") + tail


def _is_future(sentence: str, start: int, end: int) -> bool:
    """Does the clause around a weekday speak of the future ("will meet on Saturday")?

    The clause before the weekday decides; when the weekday opens its clause ("On Saturday,
    Putin will..."), the clause after it does.
    """
    breaks = _CLAUSE_BREAK.finditer(sentence, 0, start)
    clause_start = max((found.end() for found in breaks), default=0)
    clause = sentence[clause_start:start]
    if _words(clause) in ("", "on"):
        after = len(sentence) - len(sentence[end:].lstrip(" ,"))
        found = _CLAUSE_BREAK.search(sentence, after)
        clause = sentence[after : found.start() if found else len(sentence)]
    return _FUTURE.search(clause) is not None


def _weekday(sentence: str, match: re.Match[str], anchor: date | None) -> Range | None:
    """The weekday on or before the article date, or after it when the sentence is future."""
    if anchor is None:
        return None
    target = weekday_number(match["wk_day"])
    modifier = _words(match["wk_mod"] or "")
    if modifier in ("next", "this coming"):
        forward, strict = True, True
    elif modifier in ("last", "this past"):
        forward, strict = False, True
    else:
        forward, strict = _is_future(sentence, match.start(), match.end()), False
    if forward:
        days = (target - anchor.weekday()) % 7 or (7 if strict else 0)
    else:
        days = -((anchor.weekday() - target) % 7 or (7 if strict else 0))
    day = anchor + timedelta(days=days)
    return day, day


def resolve_event_dates(
    sentence: str, offset: int, article_date: date | None
) -> list[EventDateRef]:
    """The date expressions of an answer sentence, in text order, resolved against its article's
    date; without one, only dates that carry their year. `offset` is the sentence's start in the
    article, and the offsets returned are article offsets."""
    refs = []
    for match in _SENTENCE_GRAMMAR.finditer(sentence):
        if match.lastgroup == "wk":
            span = _weekday(sentence, match, article_date)
        elif _needs_preposition(match) and _preposition(sentence, match.start()) is None:
            continue
        else:
            item = _item(match, article_date)
            span = None if item is None else _resolve(item, article_date, recent=False)
        if span is not None:
            start, end = span
            refs.append(
                EventDateRef(match[0], match.start() + offset, match.end() + offset, start, end)
            )
    return refs
