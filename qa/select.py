"""Picks the one sentence that answers, from the sentences of the best passages.

Each candidate sentence gets a small feature vector — its own similarity to the question, the
similarity of its context window, its passage's similarity and rank, how much of the question's
idf-weighted terms it and its neighbours cover, whether it holds the kind of answer the question
asks for — and the answer is the sentence with the best weighted sum.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from index.store import IndexSnapshot
from index.vectors import tokenize_query
from qa.answer_types import candidate_spans, expected_type
from qa.retrieve import PassageHit

PASSAGES_FOR_SENTENCES = 8
MAX_ANSWER_WORDS = 60

FEATURES = ("sentence", "context", "passage", "coverage", "window_coverage", "type", "rank",
            "not_an_answer")
WEIGHTS = np.array([0.45, 0.15, 0.10, 0.25, 0.15, 0.20, 0.05, -0.2], dtype=np.float32)

_RAW_WORD = re.compile(r"[\w-]+")


@dataclass(frozen=True)
class ScoredSentence:
    sentence_id: int
    doc_id: str
    start: int
    end: int
    score: float
    features: tuple[float, ...]
    span: tuple[int, int] | None


def select_sentences(
    snapshot: IndexSnapshot,
    question: str,
    query_vector: np.ndarray,
    hits: list[PassageHit],
    texts: dict[str, str],
) -> list[ScoredSentence]:
    """Candidate sentences of the top passages, best first."""
    top = hits[:PASSAGES_FOR_SENTENCES]
    chunk_rank = {int(snapshot.chunk_ids[h.position]): rank for rank, h in enumerate(top)}
    rows = snapshot.sentences_of(list(chunk_rank))
    if not rows:
        return []
    chunk_dense = {int(snapshot.chunk_ids[h.position]): _dense_of(snapshot, h, query_vector)
                   for h in top}
    vectors = snapshot.sentence_vectors_of([r[0] for r in rows])
    same_chunk_before = np.array([i > 0 and rows[i - 1][1] == r[1] for i, r in enumerate(rows)])
    same_chunk_after = np.append(same_chunk_before[1:], False)
    similarity = vectors @ query_vector
    context = _window(vectors, same_chunk_before, same_chunk_after)
    context = (context / np.maximum(np.linalg.norm(context, axis=1, keepdims=True), 1e-9)) @ (
        query_vector
    )
    sentence_texts = [texts[doc_id][start:end] for _, _, doc_id, start, end in rows]
    weights = _term_weights(snapshot, question)
    total = sum(weights.values()) or 1.0
    term_sets = [set(tokenize_query(text)) for text in sentence_texts]
    coverage = np.array([sum(w for t, w in weights.items() if t in terms) / total
                         for terms in term_sets])
    window_terms = [
        term_sets[i]
        | (term_sets[i - 1] if same_chunk_before[i] else set())
        | (term_sets[i + 1] if same_chunk_after[i] else set())
        for i in range(len(rows))
    ]
    window_coverage = np.array([sum(w for t, w in weights.items() if t in terms) / total
                                for terms in window_terms])
    answer_type = expected_type(question)
    question_words = {w.lower() for w in _RAW_WORD.findall(question)
                      if tokenize_query(w)}
    scored = []
    for i, (sentence_id, chunk_id, doc_id, start, end) in enumerate(rows):
        text = sentence_texts[i]
        span = None
        if answer_type is not None:
            span = _nearest_span(text, candidate_spans(text, answer_type, question),
                                 question_words)
        features = (
            float(similarity[i]),
            float(context[i]),
            chunk_dense[chunk_id],
            float(coverage[i]),
            float(window_coverage[i]),
            0.5 if answer_type is None else float(span is not None),
            1.0 / (1 + chunk_rank[chunk_id]),
            float(_not_an_answer(text)),
        )
        scored.append(
            ScoredSentence(
                sentence_id, doc_id, start, end, float(np.dot(WEIGHTS, features)), features,
                (start + span[0], start + span[1]) if span else None,
            )
        )
    scored.sort(key=lambda s: -s.score)
    return scored


def _term_weights(snapshot: IndexSnapshot, question: str) -> dict[str, float]:
    idf = snapshot.term_idf
    # A question term the articles never use is as telling as their rarest term.
    unseen = max(idf.values(), default=1.0)
    return {t: idf.get(t, unseen) for t in set(tokenize_query(question))}


def _window(vectors: np.ndarray, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    window = vectors.copy()
    window[1:] += vectors[:-1] * before[1:, None]
    window[:-1] += vectors[1:] * after[:-1, None]
    return window


def _not_an_answer(text: str) -> bool:
    """Too short to answer, too long to quote, or itself a question."""
    words = len(text.split())
    return words < 4 or words > MAX_ANSWER_WORDS or text.rstrip("”\"’' ").endswith("?")


def _nearest_span(
    text: str, spans: list[tuple[int, int]], question_words: set[str]
) -> tuple[int, int] | None:
    """The candidate closest to where the question's words appear in the sentence."""
    if len(spans) <= 1:
        return spans[0] if spans else None
    anchors = [m.start() for m in _RAW_WORD.finditer(text) if m.group().lower() in question_words]
    if not anchors:
        return spans[0]
    return min(spans, key=lambda s: min(min(abs(a - s[0]), abs(a - s[1])) for a in anchors))


def _dense_of(snapshot: IndexSnapshot, hit: PassageHit, query_vector: np.ndarray) -> float:
    if not np.isnan(hit.dense):
        return hit.dense
    return float(snapshot.vector_index.reconstruct(hit.position) @ query_vector)
