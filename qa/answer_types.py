"""Answer-type cues: what kind of answer a question wants and where a sentence holds one."""

from __future__ import annotations

import re
from enum import Enum


class AnswerType(Enum):
    NUMBER = "number"
    DATE = "date"
    PERSON = "person"
    PLACE = "place"
    NAME = "name"


_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fifteen|twenty|"
    "thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|hundreds|thousand|thousands|"
    "million|millions|billion|billions|dozen|dozens|half|twice|double"
)

_QUESTION_RULES: list[tuple[re.Pattern[str], AnswerType]] = [
    (
        re.compile(
            r"\b(when|what year|which year|what date|which date|what day|what time|"
            r"what month|which month|how long ago|since when)\b",
            re.I,
        ),
        AnswerType.DATE,
    ),
    (
        re.compile(
            r"\b(how (many|much|far|long|old|big|large|high|tall|deep|fast|often|heavy)|"
            r"what (percentage|percent|proportion|share|number|amount|size|distance|range|"
            r"price|cost)|how\s+\w+\s+(percent|tons?))\b",
            re.I,
        ),
        AnswerType.NUMBER,
    ),
    (
        re.compile(
            r"\b(who|whom|whose|which (person|leader|president|minister|official|man|woman|"
            r"cosmonauts?|astronauts?|commander|general|journalist|reporter))\b",
            re.I,
        ),
        AnswerType.PERSON,
    ),
    (
        re.compile(
            r"\b(where|which (city|town|country|region|oblast|province|place|state|port|"
            r"village|airport|river|sea|area|territory|capital|location)|"
            r"in which (city|town|country|region|oblast|place))\b",
            re.I,
        ),
        AnswerType.PLACE,
    ),
    (
        re.compile(
            r"\b(which|what) (\w+ )?(company|agency|platform|vessel|ship|launcher|"
            r"missile|organi[sz]ation|newspaper|group|party|system|weapon|aircraft|name)\b",
            re.I,
        ),
        AnswerType.NAME,
    ),
]

_FINDERS: dict[AnswerType, re.Pattern[str]] = {
    AnswerType.NUMBER: re.compile(
        rf"(?<![\w-])(\d[\d,.]*(\s?(%|percent|per cent|km|kilometers|kilometres|miles|metres|"
        rf"meters|tons|tonnes|seconds|minutes|hours|days|weeks|months|years))?|"
        rf"(?:{_NUMBER_WORDS})(\s(?:{_NUMBER_WORDS}))*)(?![\w-])",
        re.I,
    ),
    AnswerType.DATE: re.compile(
        rf"\b((?:{_MONTHS})\.?\s+\d{{1,2}}(?:,?\s+\d{{4}})?|\d{{1,2}}\s+(?:{_MONTHS})\b(?:\s+\d{{4}})?"
        rf"|(?:{_MONTHS})\b(?:\s+\d{{4}})?|(?:19|20)\d\d|"
        r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)|yesterday|today|"
        r"last (?:week|month|year)|next (?:week|month|year)|earlier this (?:week|month|year))\b",
        re.I,
    ),
    AnswerType.PERSON: re.compile(
        r"\b((?:Mr|Mrs|Ms|Dr|Gen|Col|Lt|Sgt|President|Minister|General)\.?\s+)?"
        r"[A-Z][\w'’-]+(?:\s+(?:[A-Z][\w'’-]+|de|van|von|al|bin))+\b"
    ),
    AnswerType.PLACE: re.compile(
        r"\b(?:in|at|from|to|near|of|outside|across|into|towards|toward)\s+"
        r"(?:the\s+)?(?P<answer>[A-Z][\w'’-]+(?:[\s-]+[A-Z][\w'’-]+)*)"
    ),
    AnswerType.NAME: re.compile(
        r"\b(?:[A-Z][\w'’.-]*\d[\w-]*|[A-Z]{2,}[\w-]*|[A-Z][\w'’-]+(?:\s+[A-Z0-9][\w'’-]+)*)\b"
    ),
}

_WORD = re.compile(r"[\w'’]+")
# Capitalised only because they open a sentence or a name, not names themselves.
_LEADING_FUNCTION_WORDS = re.compile(
    r"^(?:(?:The|A|An|This|That|These|Those|It|Its|In|On|At|But|And|Russian|Ukrainian|"
    r"American|British|Former|Mr|Mrs|Ms|Dr)\.?\s+)+"
)
_UNIT_WORDS = {
    "distance": re.compile(r"(km|kilomet|mile|metre|meter|feet|foot|yard)", re.I),
    "time": re.compile(r"(second|minute|hour|day|week|month|year)", re.I),
    "percent": re.compile(r"(%|percent|per cent)", re.I),
    "weight": re.compile(r"(ton|kilogram|kg|pound)", re.I),
}
_QUESTION_UNITS = [
    (re.compile(r"\bhow far\b|\bdistance\b", re.I), "distance"),
    (re.compile(r"\bhow long\b", re.I), "time"),
    (re.compile(r"\bpercent|\bpercentage\b|\bproportion\b|\bshare\b", re.I), "percent"),
    (re.compile(r"\bhow (heavy|much cargo)\b|\bweigh", re.I), "weight"),
]


def expected_type(question: str) -> AnswerType | None:
    for pattern, answer_type in _QUESTION_RULES:
        if pattern.search(question):
            return answer_type
    return None


def candidate_spans(sentence: str, answer_type: AnswerType, question: str) -> list[tuple[int, int]]:
    """(start, end) of the parts of `sentence` that could answer, excluding the question's words."""
    asked = {w.lower() for w in _WORD.findall(question)}
    unit = next((u for pattern, u in _QUESTION_UNITS if pattern.search(question)), None)
    spans = []
    for match in _FINDERS[answer_type].finditer(sentence):
        group = "answer" if "answer" in match.re.groupindex else 0
        raw = match.group(group)
        start = match.start(group) + (len(raw) - len(raw.lstrip()))
        text = raw.strip()
        if answer_type in (AnswerType.PERSON, AnswerType.NAME):
            lead = _LEADING_FUNCTION_WORDS.match(text)
            if lead and lead.end() < len(text):
                start, text = start + lead.end(), text[lead.end() :]
            elif lead:
                continue
        words = [w.lower() for w in _WORD.findall(text)]
        if not words or all(w in asked for w in words):
            continue
        if answer_type is AnswerType.PERSON and len(words) < 2:
            continue
        if answer_type is AnswerType.NAME and match.start() == 0 and len(words) == 1:
            continue  # a capitalised first word is grammar, not a name
        if answer_type is AnswerType.NUMBER and unit and not _UNIT_WORDS[unit].search(text):
            continue
        spans.append((start, start + len(text)))
    return spans
