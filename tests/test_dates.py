from __future__ import annotations

import pathlib
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from index.dates import infer_article_date, latest_date_on_weekday, parse_date_line

ARTICLES = pathlib.Path(__file__).parent.parent / "data" / "articles"
LATER = date(2023, 12, 31)


def article(name: str) -> str:
    return (ARTICLES / name).read_text(encoding="utf-8")


# parse_date_line


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (" date 2022-07-06 The Russian space agency", (date(2022, 7, 6), 17)),
        ("date 2022-07-06 Headline", (date(2022, 7, 6), 16)),
        (" date 2023-09-05", (date(2023, 9, 5), 16)),
        (" date 2023-09-05   Spaced headline", (date(2023, 9, 5), 19)),
    ],
)
def test_date_line_gives_date_and_headline_offset(line: str, expected: tuple[date, int]) -> None:
    assert parse_date_line(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        " date 2023-02-30 Impossible day",
        " date 2023-13-01 Impossible month",
        "These images show a space rocket",
        " date 2022-07-06x glued",
        " updated 2022-07-06",
    ],
)
def test_date_line_rejects_impossible_dates_and_other_lines(line: str) -> None:
    assert parse_date_line(line) is None


def test_date_line_of_the_sample_articles() -> None:
    first_line = article("001_b23dfde50d28c48d.txt").split("\n", 1)[0]
    parsed = parse_date_line(first_line)
    assert parsed is not None
    assert parsed[0] == date(2022, 7, 6)
    assert first_line[parsed[1] :].startswith("The Russian space agency")
    assert parse_date_line(article("000_2a006b06e76cc382.txt").split("\n", 1)[0]) is None


# infer_article_date: the two undated sample articles


@pytest.mark.parametrize("today", [None, LATER])
def test_sample_article_dated_by_its_weekday_attached_present_day(today: date | None) -> None:
    # "June 3, 2022" gives the year; "Wednesday, June 1" and "June 1 marks the 98th day of the
    # invasion" mark June 1 as the day of writing, ahead of the later scheduled launch.
    assert infer_article_date(article("000_2a006b06e76cc382.txt"), today) == date(2022, 6, 1)


@pytest.mark.parametrize("today", [None, LATER])
def test_sample_article_without_any_year_dated_by_lead_weekday(today: date | None) -> None:
    # "launched missile attacks from Belarus on Saturday" ... "on the night of June 25":
    # June 25 fell on a Saturday in 2022.
    assert infer_article_date(article("003_140fda5b5716f268.txt"), today) == date(2022, 6, 25)


def test_sample_article_with_iso_date_in_text() -> None:
    assert infer_article_date(article("001_b23dfde50d28c48d.txt"), LATER) == date(2022, 7, 6)


# infer_article_date: explicit dates


@pytest.mark.parametrize(
    "text",
    [
        "Russia invaded on June 3, 2022, at dawn.",
        "Russia invaded on 3 June 2022 at dawn.",
        "Russia invaded on the 3rd of June, 2022.",
        "Filed 2022-06-03 in Kyiv.",
        "Russia invaded on June 3rd 2022.",
        "RUSSIA INVADED ON JUNE 3, 2022.",
    ],
)
def test_explicit_date_forms(text: str) -> None:
    assert infer_article_date(text, LATER) == date(2022, 6, 3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The talks ended on Sept. 3, 2022.", date(2022, 9, 3)),
        ("The talks ended on Sep 3, 2022.", date(2022, 9, 3)),
        ("The talks ended on Aug. 30, 2022.", date(2022, 8, 30)),
        ("The talks ended on 30 Aug 2022.", date(2022, 8, 30)),
    ],
)
def test_abbreviated_months(text: str, expected: date) -> None:
    assert infer_article_date(text, LATER) == expected


# infer_article_date: year resolution of year-less mentions


def test_yearless_day_takes_year_of_full_dates_elsewhere() -> None:
    text = "The deal was signed on May 30, 2022. Shelling resumed on June 5 near Kharkiv."
    assert infer_article_date(text, LATER) == date(2022, 6, 5)


def test_yearless_day_takes_most_frequent_explicit_year() -> None:
    text = (
        "Crimea was annexed on March 18, 2014. The invasion began on February 24, 2022, "
        "and Kherson was taken on March 2, 2022. Fighting continued on June 5."
    )
    assert infer_article_date(text, LATER) == date(2022, 6, 5)


def test_yearless_day_with_attached_weekday_takes_latest_consistent_year() -> None:
    # June 1 was a Wednesday in 2022 (and next in 2033).
    text = "The ministry said on Wednesday, June 1, that missile systems were on patrol."
    assert infer_article_date(text, LATER) == date(2022, 6, 1)
    assert infer_article_date(text, date(2026, 11, 22)) == date(2022, 6, 1)


def test_yearless_day_with_weekday_in_same_sentence() -> None:
    text = "Officials said on Friday that the bridge was hit on June 24.\nMore follows."
    assert infer_article_date(text, LATER) == date(2022, 6, 24)


def test_yearless_day_with_weekday_only_in_the_lead() -> None:
    text = (
        "Russian forces shelled the city on Saturday.\n"
        "Residents fled.\n"
        "The strikes came on the night of June 25, officials said."
    )
    assert infer_article_date(text, LATER) == date(2022, 6, 25)


def test_yearless_day_without_year_or_weekday_gives_nothing() -> None:
    assert infer_article_date("Fighting continued on June 25 near Lysychansk.", LATER) is None


def test_weekday_outside_the_lead_does_not_date_other_sentences() -> None:
    text = "First.\nSecond.\nThird.\nA fourth sentence on Saturday.\nShelling on June 25."
    assert infer_article_date(text, LATER) is None


# infer_article_date: which mention wins


def test_present_cue_marks_beats_later_date() -> None:
    text = "The launch is scheduled for June 3, 2022. June 1 marks the 98th day of the invasion."
    assert infer_article_date(text, LATER) == date(2022, 6, 1)


def test_present_cue_today_beats_later_date() -> None:
    text = "Today, June 1, 2022, talks resumed. A vote is planned for June 20, 2022."
    assert infer_article_date(text, LATER) == date(2022, 6, 1)


def test_latest_date_wins_without_present_cue() -> None:
    text = "Talks began on March 1, 2022 and resumed on March 29, 2022 in Istanbul."
    assert infer_article_date(text, LATER) == date(2022, 3, 29)


def test_dates_after_today_are_ignored() -> None:
    text = "Talks began on March 1, 2022 and will resume on March 29, 2022 in Istanbul."
    assert infer_article_date(text, date(2022, 3, 10)) == date(2022, 3, 1)
    assert infer_article_date("Elections on March 29, 2022.", date(2022, 3, 10)) is None


# infer_article_date: no date


@pytest.mark.parametrize(
    "text",
    [
        "",
        "No date is mentioned in this text at all.",
        "The meeting happened in June.",
        "The meeting happened in June 2022.",
        "Russia lost 1,361 tanks and 12 Kh-22 missiles; Progress MS-20 flew.",
        "Officials may 3 times a day march 20 kilometres.",
        "Monday, February 30 was the day.",
        "Monday, February 30, 2022 was the day.",
        "The statement came on Monday, June 1, 2022.",  # a Wednesday: contradictory, dropped
    ],
)
def test_no_supported_date(text: str) -> None:
    assert infer_article_date(text, LATER) is None


def test_impossible_mention_does_not_hide_valid_ones() -> None:
    text = "A letter dated Monday, February 30 was fake. The real one came on March 2, 2022."
    assert infer_article_date(text, LATER) == date(2022, 3, 2)


def test_latest_date_on_weekday() -> None:
    assert latest_date_on_weekday(6, 25, 5, LATER) == date(2022, 6, 25)
    assert latest_date_on_weekday(2, 29, 1, LATER) == date(2000, 2, 29)
    assert latest_date_on_weekday(2, 30, 1, LATER) is None


@given(st.text(max_size=400), st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 1, 1)))
def test_inference_never_raises_nor_passes_today(text: str, today: date) -> None:
    inferred = infer_article_date(text, today)
    assert inferred is None or inferred <= today


_PIECES = st.sampled_from(
    ["June 3, 2022", "Wednesday, June 1", "on Saturday", "June 25", " marks", "today", ". ", "\n"]
)


@given(st.lists(st.one_of(_PIECES, st.text(max_size=12)), max_size=20))
def test_inference_never_raises_on_date_like_text(pieces: list[str]) -> None:
    inferred = infer_article_date(" ".join(pieces), LATER)
    assert inferred is None or inferred <= LATER
