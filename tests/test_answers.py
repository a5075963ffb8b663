"""Answers over the sample corpus: quoted, verifiable by offsets, dated, or honestly absent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.chunking import MAX_SENTENCE_WORDS
from index.embedder import Embedder
from index.ingest import ingest_paths
from qa.engine import BadQuestion, Engine
from qa.models import AskResponse
from tests.conftest import ROOT

DEV = [json.loads(line) for line in (ROOT / "tests" / "fixtures" / "dev.jsonl").open()]


def source_text(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def assert_verifiable(response: AskResponse) -> None:
    """Every quote is the source file's text at its offsets."""
    cited = [response.answer] if response.answer else []
    for item in [*cited, *response.passages, *response.timeline]:
        assert item is not None
        assert source_text(item.source)[item.char_start : item.char_end] == item.text
    if response.answer and response.answer.span:
        span = response.answer.span
        assert source_text(response.answer.source)[span.char_start : span.char_end] == span.text
        assert response.answer.char_start <= span.char_start <= span.char_end
        assert span.char_end <= response.answer.char_end


def test_every_chunk_and_sentence_maps_back_to_its_file(engine: Engine) -> None:
    snapshot = engine.snapshot
    docs = snapshot.documents(set(snapshot.chunk_doc))
    assert len(docs) == 5
    for doc in docs.values():
        assert doc.text == source_text(doc.source)
    sentences = snapshot.sentences_of([int(c) for c in snapshot.chunk_ids])
    assert len(sentences) > 100
    for _, chunk_id, doc_id, start, end in sentences:
        position = int(snapshot.chunk_ids.searchsorted(chunk_id))
        assert snapshot.chunk_start[position] <= start < end <= snapshot.chunk_end[position]
        assert docs[doc_id].text[start:end].strip() == docs[doc_id].text[start:end]


@pytest.mark.parametrize("item", DEV, ids=[q["id"] for q in DEV])
def test_dev_answers_verify_against_their_sources(engine: Engine, item: dict) -> None:
    response = engine.ask(item["question"])
    assert_verifiable(response)
    assert response.passages, "passages are returned even when the answer is withheld"
    if response.answer:
        first = response.passages[0]
        assert first.doc_id == response.answer.doc_id, "the answer's passage comes first"
        assert first.char_start <= response.answer.char_start < first.char_end


def test_answer_is_quoted_dated_and_cited(engine: Engine) -> None:
    response = engine.ask("Where is the Baikonur Cosmodrome located?")
    answer = response.answer
    assert answer is not None
    assert "southern Kazakhstan" in answer.text
    assert answer.doc_id == "000_2a006b06e76cc382.txt"
    assert (answer.date, answer.date_source) == ("2022-06-01", "inferred")
    assert answer.source.endswith("000_2a006b06e76cc382.txt")


@pytest.mark.parametrize(
    "question",
    [
        "Who won the 2022 FIFA World Cup?",
        "What is the population of Canada?",
        "What is the boiling point of mercury in kelvin?",
    ],
)
def test_abstains_when_the_articles_do_not_hold_the_answer(engine: Engine, question: str) -> None:
    assert engine.ask(question).answer is None


def test_date_filters_limit_the_articles(engine: Engine) -> None:
    question = "Where did Putin meet?"
    late = engine.ask(question, since="2023-01-01")
    assert {p.date for p in late.passages} == {"2023-09-05"}
    early = engine.ask(question, until="2022-12-31")
    assert all(p.date is not None and p.date <= "2022-12-31" for p in early.passages)
    assert engine.ask(question, since="2030-01-01").passages == []


@pytest.mark.parametrize("question", ["", "   ", "?!?", "x" * 1_000_000])
def test_bad_questions_are_refused_clearly(engine: Engine, question: str) -> None:
    with pytest.raises(BadQuestion):
        engine.ask(question)


def test_since_after_until_is_refused(engine: Engine) -> None:
    with pytest.raises(BadQuestion, match="after"):
        engine.ask("Where is Baikonur?", since="2023-01-01", until="2022-01-01")


def test_a_run_on_sentence_is_quoted_by_its_clause(tmp_path: Path, embedder: Embedder) -> None:
    """A sentence over MAX_SENTENCE_WORDS words still answers, with the clause that holds the
    answer, short enough to quote and at its offsets."""
    article = tmp_path / "port.txt"
    article.write_text(
        " date 2023-03-01 Izmail grain terminal to reopen\n"
        "The port authority said on Tuesday that the grain terminal in Izmail, which had been "
        "damaged by drones twice during the summer and had stood idle for most of the autumn "
        "while engineers from three countries inspected the cranes, the berths and the rail "
        "sidings that feed them, would reopen to ships on March 14, and that the first vessel to "
        "dock there would carry 30,000 tonnes of wheat bound for Egypt, according to a statement "
        "posted on the authority's website late in the evening.\n",
        encoding="utf-8",
    )
    long_sentence = article.read_text(encoding="utf-8").splitlines()[1]
    assert len(long_sentence.split()) > MAX_SENTENCE_WORDS
    ingest_paths([article], tmp_path / "index", embedder, progress=False)
    engine = Engine(tmp_path / "index", embedder)
    response = engine.ask("How much wheat will the first vessel carry?")
    assert response.answer is not None
    assert "30,000 tonnes" in response.answer.text
    assert len(response.answer.text.split()) <= MAX_SENTENCE_WORDS
    assert response.answer.text in long_sentence
    assert_verifiable(response)
