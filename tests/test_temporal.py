from __future__ import annotations

import pathlib
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qa.temporal import (
    EventDateRef,
    TimeFilter,
    parse_question_time,
    resolve_event_dates,
    strip_expression,
)

ARTICLES = pathlib.Path(__file__).parent.parent / "data" / "articles"
TODAY = date(2023, 9, 30)


def window(question: str, today: date = TODAY) -> tuple[date | None, date | None, str]:
    found = parse_question_time(question, today)
    assert found is not None, question
    assert question[found.char_start : found.char_end] == found.text
    return found.since, found.until, found.text


# parse_question_time: windows


@pytest.mark.parametrize(
    ("question", "since", "until", "text"),
    [
        ("What happened in July 2022?", date(2022, 7, 1), date(2022, 7, 31), "in July 2022"),
        ("What happened in 2023?", date(2023, 1, 1), date(2023, 12, 31), "in 2023"),
        ("What happened on June 25, 2022?", date(2022, 6, 25), date(2022, 6, 25), None),
        ("What happened on 24 February 2022?", date(2022, 2, 24), date(2022, 2, 24), None),
        ("What happened on 2022-06-03?", date(2022, 6, 3), date(2022, 6, 3), "on 2022-06-03"),
        ("How many drones since the start of June 2022?", date(2022, 6, 1), None, None),
        ("How many drones since June 2022?", date(2022, 6, 1), None, "since June 2022"),
        ("Which cities fell before September 2023?", None, date(2023, 8, 31), None),
        ("Which cities fell after June 2022?", date(2022, 7, 1), None, "after June 2022"),
        ("Which cities fell after June 25, 2022?", date(2022, 6, 26), None, None),
        ("Who attacked until March 2023?", None, date(2023, 3, 31), None),
        ("What happened between May and July 2022?", date(2022, 5, 1), date(2022, 7, 31), None),
        ("What happened from May to July 2022?", date(2022, 5, 1), date(2022, 7, 31), None),
        ("What happened between 2022 and 2023?", date(2022, 1, 1), date(2023, 12, 31), None),
        ("between November and February 2023?", date(2022, 11, 1), date(2023, 2, 28), None),
        ("from June 2022 to March?", date(2022, 6, 1), date(2023, 3, 31), None),
        ("in the last week of June 2022?", date(2022, 6, 24), date(2022, 6, 30), None),
        ("in the first week of June 2022?", date(2022, 6, 1), date(2022, 6, 7), None),
        ("in early June 2022?", date(2022, 6, 1), date(2022, 6, 10), "in early June 2022"),
        ("in mid-June 2022?", date(2022, 6, 11), date(2022, 6, 20), "in mid-June 2022"),
        ("in late June 2022?", date(2022, 6, 21), date(2022, 6, 30), None),
        ("at the end of February 2023?", date(2023, 2, 21), date(2023, 2, 28), None),
        ("in early 2023?", date(2023, 1, 1), date(2023, 4, 30), None),
        ("in the second half of 2022?", date(2022, 7, 1), date(2022, 12, 31), None),
        ("in the summer of 2022?", date(2022, 6, 1), date(2022, 8, 31), "in the summer of 2022"),
        ("during winter 2022?", date(2022, 12, 1), date(2023, 2, 28), None),
        ("What happened last month?", date(2023, 8, 1), date(2023, 8, 31), "last month"),
        ("What happened last year?", date(2022, 1, 1), date(2022, 12, 31), "last year"),
        ("What happened this year?", date(2023, 1, 1), date(2023, 12, 31), "this year"),
        ("What happened in the past 3 weeks?", date(2023, 9, 9), date(2023, 9, 30), None),
        ("over the last month?", date(2023, 8, 30), date(2023, 9, 30), None),
        ("What happened two weeks ago?", date(2023, 9, 11), date(2023, 9, 17), None),
        ("What happened yesterday?", date(2023, 9, 29), date(2023, 9, 29), "yesterday"),
        ("What happened in may?", date(2023, 5, 1), date(2023, 5, 31), "in may"),
        ("What happened on may 9?", date(2023, 5, 9), date(2023, 5, 9), "on may 9"),
        ("What happened march 3, 2022?", date(2022, 3, 3), date(2022, 3, 3), "march 3, 2022"),
        ("Why did prices fall in 2022?", date(2022, 1, 1), date(2022, 12, 31), "in 2022"),
    ],
)
def test_question_windows(
    question: str, since: date | None, until: date | None, text: str | None
) -> None:
    found = window(question)
    assert found[:2] == (since, until)
    if text is not None:
        assert found[2] == text


def test_yearless_day_is_the_most_recent_up_to_today() -> None:
    assert window("What happened on June 25?")[:2] == (date(2023, 6, 25), date(2023, 6, 25))
    march = date(2023, 3, 1)
    assert window("What happened on June 25?", march)[:2] == (date(2022, 6, 25), date(2022, 6, 25))


def test_yearless_day_with_weekday_takes_a_year_where_it_fits() -> None:
    assert window("What did Zelenskyy say on Wednesday, June 1?")[:2] == (
        date(2022, 6, 1),
        date(2022, 6, 1),
    )


def test_yearless_month_is_the_most_recent_begun() -> None:
    assert window("What happened in July?")[:2] == (date(2023, 7, 1), date(2023, 7, 31))
    assert window("What happened in October?")[:2] == (date(2022, 10, 1), date(2022, 10, 31))


@pytest.mark.parametrize(
    ("question", "since"),
    [("İn ſeptember 2022?", date(2022, 9, 1)), ("ın the paſt two weeKs?", date(2023, 9, 16))],
)
def test_unicode_case_lookalikes_are_folded(question: str, since: date) -> None:
    # re.IGNORECASE lets "ſ" match "s" and "ı" or "İ" match "i": lookups must agree.
    assert window(question)[0] == since


def test_impossible_day_gives_no_window() -> None:
    assert parse_question_time("What happened on February 30?", TODAY) is None
    assert parse_question_time("What happened on February 30, 2023?", TODAY) is None


@pytest.mark.parametrize(
    "question",
    [
        "How many tanks has Russia lost?",
        "Who is Russia's only female cosmonaut?",
        "What is the population of Canada?",
        "How many Kh-22 missiles did 6 bombers launch? 12 Kh-22 missiles?",
        "What is Progress MS-20?",
        "What did Zelenskyy say on Wednesday?",
        "Did the troops march on Kyiv?",
        "What may 2 brigades do?",
        "Did 20 march on Kyiv?",
        "What was the spring offensive?",
        "How did the fall of Bakhmut happen?",
        "Who was at Mar-a-Lago?",
        "How many S-300 systems were there in the 2022 invasion?",
        "What is planned for next year?",
        "What happens tomorrow?",
        "How much did 2,290 vehicles cost?",
    ],
)
def test_questions_without_a_window(question: str) -> None:
    assert parse_question_time(question, TODAY) is None


@pytest.mark.parametrize(
    "question",
    [
        "What is the latest news on Bakhmut?",
        "What is the most recent attack?",
        "Who controls Sievierodonetsk now?",
        "Who currently leads the Wagner group?",
        "What happened recently in Kherson?",
        "What is the newest weapon sent?",
    ],
)
def test_recency_words(question: str) -> None:
    assert parse_question_time(question, TODAY) == TimeFilter(None, None, "", 0, 0, True)


def test_recency_with_a_window() -> None:
    found = parse_question_time("What was the latest attack in July 2022?", TODAY)
    assert found is not None
    assert (found.since, found.until, found.text, found.recency) == (
        date(2022, 7, 1),
        date(2022, 7, 31),
        "in July 2022",
        True,
    )


# strip_expression


@pytest.mark.parametrize(
    ("question", "stripped"),
    [
        ("What happened in Kherson in July 2022?", "What happened in Kherson?"),
        ("In July 2022, what happened in Kherson?", "what happened in Kherson?"),
        ("How many drones since June 2022 hit Kyiv?", "How many drones hit Kyiv?"),
        ("What happened between May and July 2022?", "What happened?"),
        ("What happened last month in Kyiv?", "What happened in Kyiv?"),
        ("What is the latest on Bakhmut?", "What is the latest on Bakhmut?"),
    ],
)
def test_strip_expression(question: str, stripped: str) -> None:
    found = parse_question_time(question, TODAY)
    assert found is not None
    assert strip_expression(question, found) == stripped


def test_strip_expression_drops_a_dangling_preposition() -> None:
    question = "What happened on the night of June 25?"
    expression = question.index("June 25")
    found = TimeFilter(None, None, "June 25", expression, expression + 7, False)
    assert strip_expression(question, found) == "What happened on the night?"


# resolve_event_dates


SATURDAY_NEWS = date(2022, 6, 26)  # a Sunday


def refs(sentence: str, article_date: date | None, offset: int = 0) -> list[tuple[str, date, date]]:
    found = resolve_event_dates(sentence, offset, article_date)
    for ref in found:
        assert sentence[ref.char_start - offset : ref.char_end - offset] == ref.text
    return [(ref.text, ref.start, ref.end) for ref in found]


def day(text: str, when: date) -> tuple[str, date, date]:
    return text, when, when


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        (
            "Russian forces launched missile attacks from Belarus on Saturday.",
            day("Saturday", date(2022, 6, 25)),
        ),
        ("A meeting Saturday in Saint Petersburg.", day("Saturday", date(2022, 6, 25))),
        ("Russia said on Saturday that it will respond.", day("Saturday", date(2022, 6, 25))),
        ("The report on Sunday said so.", day("Sunday", date(2022, 6, 26))),
        ("Putin will meet Lukashenko on Saturday.", day("Saturday", date(2022, 7, 2))),
        ("On Saturday, Putin will meet Lukashenko.", day("Saturday", date(2022, 7, 2))),
        ("The vote is set to take place on Monday.", day("Monday", date(2022, 6, 27))),
        ("They meet again next Saturday.", day("next Saturday", date(2022, 7, 2))),
        ("They met last Sunday.", day("last Sunday", date(2022, 6, 19))),
        ("The talks on Monday failed.", day("Monday", date(2022, 6, 20))),
        ("Missiles hit Kyiv on the night of June 25.", day("June 25", date(2022, 6, 25))),
        ("The launch is scheduled for June 3, 2022.", day("June 3, 2022", date(2022, 6, 3))),
        ("Kyiv was attacked yesterday.", day("yesterday", date(2022, 6, 25))),
        ("Kyiv is calm today.", day("today", date(2022, 6, 26))),
        ("The war may end next year.", ("next year", date(2023, 1, 1), date(2023, 12, 31))),
        (
            "Earlier this year, Russia invaded.",
            ("Earlier this year", date(2022, 1, 1), SATURDAY_NEWS),
        ),
        ("It rained last year.", ("last year", date(2021, 1, 1), date(2021, 12, 31))),
        ("It rained this month.", ("this month", date(2022, 6, 1), date(2022, 6, 30))),
        ("It rained last month.", ("last month", date(2022, 5, 1), date(2022, 5, 31))),
        ("Elections held in May were void.", ("May", date(2022, 5, 1), date(2022, 5, 31))),
        ("Elections held in August were void.", ("August", date(2022, 8, 1), date(2022, 8, 31))),
        (
            "Elections held in October were void.",
            ("October", date(2021, 10, 1), date(2021, 10, 31)),
        ),
        ("It began in late February.", ("late February", date(2022, 2, 21), date(2022, 2, 28))),
        ("Russia annexed Crimea in 2014.", ("2014", date(2014, 1, 1), date(2014, 12, 31))),
        (
            "It was dry in the summer of 2021.",
            ("the summer of 2021", date(2021, 6, 1), date(2021, 8, 31)),
        ),
        ("Three days ago it began.", day("Three days ago", date(2022, 6, 23))),
        ("Over the past week it rained.", ("the past week", date(2022, 6, 19), SATURDAY_NEWS)),
    ],
)
def test_event_dates(sentence: str, expected: tuple[str, date, date]) -> None:
    assert refs(sentence, SATURDAY_NEWS) == [expected]


def test_weekday_attached_day_takes_the_article_year() -> None:
    sentence = "The ministry said in a statement on Wednesday, June 1 at 6 a.m., that..."
    assert refs(sentence, date(2022, 6, 3)) == [day("Wednesday, June 1", date(2022, 6, 1))]


def test_yearless_day_well_after_the_article_date_is_last_year() -> None:
    assert refs("It was hit on December 25.", date(2023, 1, 10)) == [
        day("December 25", date(2022, 12, 25))
    ]
    assert refs("The launch is set for July 20.", date(2022, 6, 1)) == [
        day("July 20", date(2022, 7, 20))
    ]


def test_several_dates_in_text_order() -> None:
    sentence = "From February 24 to June 1, Russia lost about 30,700 military personnel."
    assert refs(sentence, date(2022, 6, 1)) == [
        day("February 24", date(2022, 2, 24)),
        day("June 1", date(2022, 6, 1)),
    ]


def test_without_article_date_only_dates_with_a_year() -> None:
    sentence = "Scheduled for June 3, 2022, after talks on Saturday and on June 1 last year."
    assert refs(sentence, None) == [day("June 3, 2022", date(2022, 6, 3))]


@pytest.mark.parametrize(
    "sentence",
    [
        "Russia lost 1,361 tanks and 12 Kh-22 cruise missiles.",
        "The Progress MS-20 cargo ship will be dedicated to the Donbass.",
        "Troops may 3 times march 20 kilometres.",
        "The March on Washington and the 2014 annexation.",
        "It was signed on February 30.",
        "The Sun reported it.",
    ],
)
def test_sentences_without_event_dates(sentence: str) -> None:
    assert refs(sentence, SATURDAY_NEWS) == []


def test_event_date_offsets_are_article_offsets() -> None:
    text = (ARTICLES / "003_140fda5b5716f268.txt").read_text(encoding="utf-8")
    start = text.index("The Backfire raid")
    end = text.index("\n", start)
    found = resolve_event_dates(text[start:end], start, SATURDAY_NEWS)
    assert found == [
        EventDateRef(
            "June 25", text.index("June 25"), text.index("June 25") + 7, *[date(2022, 6, 25)] * 2
        )
    ]
    assert text[found[0].char_start : found[0].char_end] == "June 25"


# properties

_DATE_WORDS = st.sampled_from(
    [
        "on Saturday",
        "Wednesday, June 1",
        "June 25, 2022",
        "in May",
        "next year",
        "the past 3 weeks",
        "2022-02-30",
        "between May and",
        "since",
        "mid-",
        "a year ago",
        "last",
        " will ",
        ", ",
        "Sept.",
        "the",
    ]
)
_TEXT = st.lists(st.one_of(_DATE_WORDS, st.text(max_size=10)), max_size=16).map(" ".join)


@given(
    _TEXT,
    st.integers(min_value=0, max_value=10**6),
    st.one_of(st.none(), st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))),
)
def test_event_date_offsets_map_back(sentence: str, offset: int, article_date: date | None) -> None:
    previous_end = offset
    for ref in resolve_event_dates(sentence, offset, article_date):
        assert sentence[ref.char_start - offset : ref.char_end - offset] == ref.text
        assert ref.char_start >= previous_end
        assert ref.start <= ref.end
        previous_end = ref.char_end


@given(
    st.one_of(_TEXT, st.text()), st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))
)
def test_question_parsing_never_raises(question: str, today: date) -> None:
    found = parse_question_time(question, today)
    if found is not None and found.text:
        assert question[found.char_start : found.char_end] == found.text
        assert strip_expression(question, found) is not None
