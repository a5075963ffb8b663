"""Time in questions, event dates, timelines, recency and follow-ups, on real and dated articles."""

from __future__ import annotations

import httpx
import pytest

from index.embedder import Embedder
from index.ingest import ingest_paths
from qa.engine import Engine
from tests.conftest import FIXTURES


@pytest.fixture(scope="module")
def dated_engine(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Engine:
    root = tmp_path_factory.mktemp("dated-index")
    ingest_paths([FIXTURES / "dated.jsonl"], root, embedder, progress=False)
    return Engine(root, embedder)


def test_the_window_in_the_question_changes_the_answer(dated_engine: Engine) -> None:
    july = dated_engine.ask("What happened to the Antonivskyi bridge in July 2022?")
    november = dated_engine.ask("What happened to the Antonivskyi bridge in November 2022?")
    assert july.answer is not None and july.answer.doc_id == "bridge-july"
    assert november.answer is not None and november.answer.doc_id == "bridge-november"
    assert july.window is not None
    assert (july.window.since, july.window.until) == ("2022-07-01", "2022-07-31")
    assert july.window.text is not None and "July 2022" in july.window.text
    assert {p.doc_id for p in november.passages} == {"bridge-november"}


def test_explicit_since_until_win_over_the_question(dated_engine: Engine) -> None:
    response = dated_engine.ask(
        "What happened to the Antonivskyi bridge in July 2022?", since="2022-11-01"
    )
    assert response.answer is not None and response.answer.doc_id == "bridge-november"
    assert response.window is not None and response.window.text is None


def test_timeline_across_two_dates_oldest_first(dated_engine: Engine) -> None:
    response = dated_engine.ask("What happened to the Antonivskyi bridge?")
    assert [c.doc_id for c in response.timeline] == ["bridge-july", "bridge-november"]
    assert [c.date for c in response.timeline] == ["2022-07-27", "2022-11-11"]
    assert "damaged" in response.timeline[0].text
    assert "destroyed" in response.timeline[1].text
    assert response.answer is not None and response.answer.text == response.timeline[-1].text, (
        "what happened is answered by the latest stage"
    )


def test_latest_prefers_the_newest_article(dated_engine: Engine) -> None:
    response = dated_engine.ask("What is the latest on the Antonivskyi bridge?")
    assert response.answer is not None and response.answer.doc_id == "bridge-november"


def test_relative_weekday_resolved_against_the_article_date(dated_engine: Engine) -> None:
    response = dated_engine.ask("When was the Antonivskyi bridge destroyed?")
    answer = response.answer
    assert answer is not None and answer.doc_id == "bridge-november"
    assert [(e.text, e.start, e.end) for e in answer.event_dates] == [
        ("Friday", "2022-11-11", "2022-11-11")
    ]


def test_event_date_in_the_sample_meeting(engine: Engine) -> None:
    answer = engine.ask("Where did Putin meet Lukashenko?").answer
    assert answer is not None and "Saint Petersburg" in answer.text
    assert answer.date == "2022-06-25" and answer.date_source == "inferred"
    assert [e.start for e in answer.event_dates] == ["2022-06-25"]
    event = answer.event_dates[0]
    assert (
        answer.text[event.char_start - answer.char_start : event.char_end - answer.char_start]
        == event.text
    )


def test_sample_timeline_of_sievierodonetsk(engine: Engine) -> None:
    response = engine.ask("What happened to Sievierodonetsk, and when?")
    assert [c.date for c in response.timeline] == ["2022-06-01", "2022-06-25"]
    assert all(c.date_source == "inferred" for c in response.timeline)
    assert "taken Sievierodonetsk" in response.timeline[-1].text
    assert response.answer is not None and "taken Sievierodonetsk" in response.answer.text


def test_what_happened_in_a_month_without_a_subject(dated_engine: Engine) -> None:
    response = dated_engine.ask("What happened in July 2022?")
    assert [c.doc_id for c in response.timeline] == ["grain-deal", "bridge-july"]
    assert response.answer is not None


def test_three_turn_chat_over_http(live_server: str) -> None:
    session = {"session_id": "chat-test-1"}
    first = httpx.post(
        f"{live_server}/ask", json={"question": "Where did Putin meet Lukashenko?", **session}
    ).json()
    assert "Saint Petersburg" in first["answer"]["text"] and first["context"] is None
    second = httpx.post(
        f"{live_server}/ask", json={"question": "And when was that?", **session}
    ).json()
    assert second["context"] == {"turn": 1, "question": "Where did Putin meet Lukashenko?"}
    assert second["answer"]["event_dates"][0]["start"] == "2022-06-25"
    third = httpx.post(
        f"{live_server}/ask", json={"question": "Who did he meet in Vladivostok?", **session}
    ).json()
    assert third["context"]["turn"] == 2
    assert "Kim Jong-un" in third["answer"]["text"]
    alone = httpx.post(f"{live_server}/ask", json={"question": "And when was that?"}).json()
    assert alone["context"] is None


def test_sessions_expire_and_are_bounded() -> None:
    from qa.conversation import SessionStore, Turn

    store = SessionStore(ttl=60, max_sessions=3)
    for i in range(5):
        store.record(f"s{i}", Turn(f"q{i}", f"q{i}"))
    assert len(store) == 3 and store.turns("s0") == [] and store.turns("s4")
    expiring = SessionStore(ttl=0, max_sessions=10)
    expiring.record("s", Turn("q", "q"))
    assert expiring.turns("s") == []


@pytest.mark.parametrize(
    ("question", "selected"),
    [
        (
            "What is the latest on the Antonivskyi bridge?",
            "What happened to the Antonivskyi bridge?",
        ),
        ("what's new with Roscosmos", "What happened to Roscosmos?"),
        ("Any news about Kherson?", "What happened to Kherson?"),
        ("What happened to Sievierodonetsk, and when?", "What happened to Sievierodonetsk?"),
        ("What is the latest tank loss figure?", "What is the latest tank loss figure?"),
    ],
)
def test_news_questions_are_read_as_what_happened(question: str, selected: str) -> None:
    from qa.timeline import selection_query

    assert selection_query(question) == selected
