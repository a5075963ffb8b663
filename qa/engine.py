"""The answering engine: a question in, a quoted, dated, cited `AskResponse` out."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import numpy as np

from index import config
from index.embedder import Embedder, query_threads
from index.store import DocumentRow, IndexSnapshot, live_version
from qa.conversation import SessionStore, Turn, resolve
from qa.models import (
    Answer,
    AskResponse,
    Citation,
    DateWindow,
    EventDate,
    Passage,
    Span,
    TurnRef,
)
from qa.retrieve import PassageHit, date_mask, hybrid_search
from qa.select import (
    PASSAGES_FOR_SENTENCES,
    ScoredSentence,
    min_answer_score,
    select_sentences,
)
from qa.temporal import TimeFilter, parse_question_time, resolve_event_dates, strip_expression
from qa.timeline import (
    MAX_ENTRIES,
    asks_for_development,
    has_subject,
    pick_timeline,
    selection_query,
)

MAX_QUESTION_CHARS = config.env_int("QA_MAX_QUESTION_CHARS", 2000)
# An answer needs this much support; below it Dateline says the articles do not hold it.
MIN_ANSWER_SCORE = config.env_float("QA_MIN_ANSWER_SCORE", min_answer_score())
# Scores this close are a tie, broken toward the newer article.
TIE_MARGIN = 1e-6
SESSION_TTL_SECONDS = config.env_float("QA_SESSION_TTL", 30 * 60)
MAX_SESSIONS = config.env_int("QA_MAX_SESSIONS", 10_000)


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
        self.embedder = embedder or Embedder(threads=query_threads())
        self.sessions = SessionStore(SESSION_TTL_SECONDS, MAX_SESSIONS)
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
        return self.embedder.encode_query(text)

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
        turns = self.sessions.turns(session_id) if session_id else []
        resolved = resolve(question, turns)
        time_filter = parse_question_time(resolved.query, snapshot.newest_date or date.today())
        query = resolved.query
        if time_filter is not None and time_filter.text:
            query = strip_expression(resolved.query, time_filter) or resolved.query
            if since_day is None and until_day is None:
                since_day, until_day = time_filter.since, time_filter.until
        window = _window(since_day, until_day, time_filter)
        mask = date_mask(
            snapshot,
            since_day.toordinal() if since_day else None,
            until_day.toordinal() if until_day else None,
        )
        query_vector = self.encode_query(query)
        hits = hybrid_search(snapshot, query_vector, query, mask)
        doc_ids = {
            snapshot.chunk_doc[h.position] for h in hits[: max(top_k, PASSAGES_FOR_SENTENCES)]
        }
        if mask is not None and not has_subject(query):
            ranked = _ledes(snapshot, mask)
            doc_ids |= {s.doc_id for s in ranked}
        documents = snapshot.documents(doc_ids)
        texts = {doc_id: row.text for doc_id, row in documents.items()}
        dates = {doc_id: row.date for doc_id, row in documents.items()}
        if mask is not None and not has_subject(query):
            # "What happened in July 2022?": what each article of that time leads with.
            best = ranked[0] if ranked else None
            timeline = sorted(ranked, key=lambda s: dates[s.doc_id] or "")[:MAX_ENTRIES]
            timeline = timeline if len(timeline) > 1 else []
        else:
            development = asks_for_development(query)
            ranked = select_sentences(
                snapshot, selection_query(query), query_vector, hits, texts, development
            )
            recency = time_filter is not None and time_filter.recency
            best = _best(ranked, dates, recency)
            timeline = pick_timeline(query, ranked, dates, MIN_ANSWER_SCORE) if best else []
            if timeline and development:
                # "What happened to X?" on a running story: the latest stage answers, the
                # timeline shows the ones before it.
                best = timeline[-1]
            hits = _by_support(snapshot, hits, ranked, best)
        if session_id:
            self.sessions.record(session_id, Turn(question, query))
        return AskResponse(
            question=question,
            answer=_answer(documents[best.doc_id], best) if best else None,
            passages=[
                _passage(
                    documents[snapshot.chunk_doc[h.position]],
                    int(snapshot.chunk_start[h.position]),
                    int(snapshot.chunk_end[h.position]),
                    h.fused,
                )
                for h in hits[: max(top_k, 1)]
            ],
            timeline=[_citation(documents[s.doc_id], s.start, s.end, s.score) for s in timeline],
            window=window,
            session_id=session_id,
            context=TurnRef(turn=resolved.turn, question=resolved.earlier_question)
            if resolved.turn is not None and resolved.earlier_question is not None
            else None,
        )


def _best(
    ranked: list[ScoredSentence], dates: dict[str, str | None], recency: bool
) -> ScoredSentence | None:
    """The best supported sentence, near-ties going to the newer article; for "latest"
    questions, the best supported sentence of the newest article."""
    supported = [s for s in ranked if s.score >= MIN_ANSWER_SCORE]
    if not supported:
        return None
    contenders = [s for s in supported if recency or supported[0].score - s.score <= TIE_MARGIN]
    return max(contenders, key=lambda s: (dates.get(s.doc_id) or "", s.score))


def _by_support(
    snapshot: IndexSnapshot,
    hits: list[PassageHit],
    ranked: list[ScoredSentence],
    best: ScoredSentence | None,
) -> list[PassageHit]:
    """The answer's passage first, then the others whose sentences were weighed, by their best
    sentence, then the rest in retrieval order."""
    support: dict[int, float] = {best.chunk_id: np.inf} if best else {}
    for sentence in ranked:
        support.setdefault(sentence.chunk_id, sentence.score)
    return sorted(hits, key=lambda h: -support.get(int(snapshot.chunk_ids[h.position]), -np.inf))


def _ledes(snapshot: IndexSnapshot, mask: np.ndarray) -> list[ScoredSentence]:
    """The first sentence of every article the date window allows, newest article first."""
    doc_ids = {snapshot.chunk_doc[i] for i in np.flatnonzero(mask)}
    ledes = [
        ScoredSentence(-1, -1, doc_id, start, end, MIN_ANSWER_SCORE, (), None)
        for doc_id, start, end in snapshot.first_sentences(doc_ids)
    ]
    dates = {d: snapshot.chunk_date[i] for i, d in enumerate(snapshot.chunk_doc)}
    return sorted(ledes, key=lambda s: -dates[s.doc_id])


def _window(
    since: date | None, until: date | None, time_filter: TimeFilter | None
) -> DateWindow | None:
    if since is None and until is None:
        return None
    from_question = time_filter is not None and (since, until) == (
        time_filter.since,
        time_filter.until,
    )
    return DateWindow(
        since=since.isoformat() if since else None,
        until=until.isoformat() if until else None,
        text=time_filter.text if from_question and time_filter else None,
    )


def _citation(doc: DocumentRow, start: int, end: int, score: float) -> Citation:
    return Citation(
        doc_id=doc.doc_id,
        source=doc.source,
        title=doc.title,
        date=doc.date,
        date_source=doc.date_source,
        text=doc.text[start:end],
        char_start=start,
        char_end=end,
        score=round(score, 6),
    )


def _passage(doc: DocumentRow, start: int, end: int, score: float) -> Passage:
    return Passage(**_citation(doc, start, end, score).model_dump())


def _answer(doc: DocumentRow, best: ScoredSentence) -> Answer:
    span = (
        Span(
            text=doc.text[best.span[0] : best.span[1]],
            char_start=best.span[0],
            char_end=best.span[1],
        )
        if best.span
        else None
    )
    article_date = date.fromisoformat(doc.date) if doc.date else None
    events = [
        EventDate(
            text=e.text,
            char_start=e.char_start,
            char_end=e.char_end,
            start=e.start.isoformat(),
            end=e.end.isoformat(),
        )
        for e in resolve_event_dates(doc.text[best.start : best.end], best.start, article_date)
    ]
    return Answer(
        **_citation(doc, best.start, best.end, best.score).model_dump(),
        span=span,
        event_dates=events,
    )
