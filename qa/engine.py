"""The answering engine: a question in, a quoted, dated, cited `AskResponse` out."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import numpy as np

from index import config
from index.embedder import Embedder
from index.store import DocumentRow, IndexSnapshot, live_version
from qa.models import Answer, AskResponse, DateWindow, Passage, Span
from qa.retrieve import date_mask, hybrid_search
from qa.select import ScoredSentence, select_sentences

MAX_QUESTION_CHARS = config.env_int("QA_MAX_QUESTION_CHARS", 2000)
# An answer needs this much support; below it Dateline says the articles do not hold it.
MIN_ANSWER_SCORE = config.env_float("QA_MIN_ANSWER_SCORE", 0.5)


class BadQuestion(ValueError):
    """The question cannot be asked as given; the message says why and what to do."""


def validate_question(question: str) -> str:
    cleaned = "".join(ch for ch in question if ch.isprintable() or ch in "\t\n").strip()
    if not cleaned:
        raise BadQuestion("the question is empty; type a question about the articles")
    if len(cleaned) > MAX_QUESTION_CHARS:
        raise BadQuestion(
            f"the question is {len(cleaned)} characters long; the limit is {MAX_QUESTION_CHARS} "
            "(QA_MAX_QUESTION_CHARS)"
        )
    if not any(ch.isalnum() for ch in cleaned):
        raise BadQuestion("the question has no words; type a question about the articles")
    return " ".join(cleaned.split())


def parse_day(value: str | None, name: str) -> date | None:
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise BadQuestion(f"{name} must be a date like 2022-06-01, not {value!r}") from exc


class Engine:
    """Loads the model once and the live index version, reloading when a new one is published."""

    def __init__(self, index_root: Path, embedder: Embedder | None = None) -> None:
        self.index_root = index_root
        self.embedder = embedder or Embedder()
        self._snapshot: IndexSnapshot | None = None
        self._lock = threading.Lock()

    @property
    def snapshot(self) -> IndexSnapshot:
        version = live_version(self.index_root)
        current = self._snapshot
        if current is not None and current.version == version:
            return current
        with self._lock:
            if self._snapshot is None or self._snapshot.version != version:
                self._snapshot = IndexSnapshot(self.index_root)
            return self._snapshot

    def encode_query(self, text: str) -> np.ndarray:
        return self.embedder.encode([text])[0]

    def ask(
        self,
        question: str,
        top_k: int = 5,
        since: str | None = None,
        until: str | None = None,
        session_id: str | None = None,
    ) -> AskResponse:
        question = validate_question(question)
        since_day, until_day = parse_day(since, "since"), parse_day(until, "until")
        if since_day and until_day and since_day > until_day:
            raise BadQuestion(f"since ({since_day}) is after until ({until_day})")
        snapshot = self.snapshot
        window = (
            DateWindow(
                since=since_day.isoformat() if since_day else None,
                until=until_day.isoformat() if until_day else None,
            )
            if since_day or until_day
            else None
        )
        mask = date_mask(
            snapshot,
            since_day.toordinal() if since_day else None,
            until_day.toordinal() if until_day else None,
        )
        query_vector = self.encode_query(question)
        hits = hybrid_search(snapshot, query_vector, question, mask)
        passages_hits = hits[: max(top_k, 1)]
        doc_ids = {snapshot.chunk_doc[h.position] for h in hits[: max(top_k, 8)]}
        documents = snapshot.documents(doc_ids)
        texts = {doc_id: row.text for doc_id, row in documents.items()}
        ranked = select_sentences(snapshot, question, query_vector, hits, texts)
        best = ranked[0] if ranked and ranked[0].score >= MIN_ANSWER_SCORE else None
        passages = [
            _passage(documents[snapshot.chunk_doc[h.position]],
                     int(snapshot.chunk_start[h.position]), int(snapshot.chunk_end[h.position]),
                     h.fused)
            for h in passages_hits
        ]
        return AskResponse(
            question=question,
            answer=_answer(documents[best.doc_id], best) if best else None,
            passages=passages,
            window=window,
        )


def _citation_fields(doc: DocumentRow) -> dict[str, str | None]:
    return {
        "doc_id": doc.doc_id,
        "source": doc.source,
        "title": doc.title,
        "date": doc.date,
        "date_source": doc.date_source,
    }


def _passage(doc: DocumentRow, start: int, end: int, score: float) -> Passage:
    return Passage(
        **_citation_fields(doc), text=doc.text[start:end], char_start=start, char_end=end,
        score=round(score, 6),
    )


def _answer(doc: DocumentRow, best: ScoredSentence) -> Answer:
    span = (
        Span(text=doc.text[best.span[0] : best.span[1]], char_start=best.span[0],
             char_end=best.span[1])
        if best.span
        else None
    )
    return Answer(
        **_citation_fields(doc), text=doc.text[best.start : best.end], char_start=best.start,
        char_end=best.end, score=round(best.score, 6), span=span,
    )
