"""Picks the one sentence that answers, from the sentences of the best passages.

Each candidate sentence gets a feature vector — its own and its context window's similarity to
the question, its passage's scores and rank, how much of the question's idf-weighted terms and
term pairs it and its neighbours cover, which rare question terms are missing, whether it holds
the kind of answer the question asks for — and the learned ranker (qa/ranker.py) turns that into
the probability that the sentence answers. Features relative to the best candidate help ranking;
absolute ones let the score say when nothing answers. When shipped, an extractive reader
(qa/reader.py) then reads the passages of the best of them and marks the answer's span.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from index.chunking import MAX_SENTENCE_WORDS
from index.store import IndexSnapshot
from index.vectors import tokenize_query
from qa import reader as second_stage
from qa.answer_types import candidate_spans, expected_type
from qa.ranker import Ranker, load_ranker
from qa.retrieve import PassageHit

# The sentences of this many top passages are weighed. The shipped weights were fitted on 8
# (tools/train_ranker.py TRAINING_PASSAGES); answering weighs 16, measured on training half B:
# recall@5 0.928 -> 0.935, answer@1 0.695 -> 0.703, 2-5% more CPU per question.
PASSAGES_FOR_SENTENCES = 16

FEATURES = (
    "sentence",
    "sentence_gap",
    "context",
    "passage",
    "passage_lexical",
    "rank",
    "coverage",
    "coverage_gap",
    "window_coverage",
    "chunk_coverage",
    "pairs",
    "missing_rare",
    "novel",
    "novel_names",
    "novel_numbers",
    "spread",
    "type_asked",
    "type_found",
    "log_words",
    "not_an_answer",
    "doc_share",
)

_RAW_WORD = re.compile(r"[\w-]+")
_DIGIT = re.compile(r"\d")

SentenceRow = tuple[int, int, str, int, int]


@dataclass(frozen=True)
class ScoredSentence:
    sentence_id: int
    chunk_id: int
    doc_id: str
    start: int
    end: int
    score: float
    features: tuple[float, ...]
    span: tuple[int, int] | None


@dataclass(frozen=True)
class Candidates:
    """Sentences of the top passages (rows as `IndexSnapshot.sentences_of` gives them)."""

    rows: list[SentenceRow]
    texts: list[str]
    features: np.ndarray
    spans: list[tuple[int, int] | None]


@lru_cache(maxsize=1)
def ranker() -> Ranker:
    return load_ranker(features=FEATURES)


def min_answer_score() -> float:
    """The abstain threshold of whichever stage gives the final scores."""
    if second_stage.enabled():
        return second_stage.min_answer_score()
    return ranker().min_answer_score


def select_sentences(
    snapshot: IndexSnapshot,
    question: str,
    query_vector: np.ndarray,
    hits: list[PassageHit],
    texts: dict[str, str],
    read_all: bool = False,
) -> list[ScoredSentence]:
    """Candidate sentences of the top passages, best first. `read_all`: the reader reads
    all its passages, even when the first already holds a confident answer (a timeline needs
    the sentences of every article scored)."""
    found = candidates(snapshot, question, query_vector, hits[:PASSAGES_FOR_SENTENCES], texts)
    if not found.rows:
        return []
    scores = ranker().score(found.features)
    spans = found.spans
    if second_stage.enabled():
        scores, read_spans = second_stage.reader().rescore(
            question,
            found.texts,
            [row[3] for row in found.rows],
            [row[1] for row in found.rows],
            scores,
            read_all,
        )
        spans = [read_spans.get(i, span) for i, span in enumerate(spans)]
    scored = [
        ScoredSentence(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            float(score),
            tuple(float(v) for v in values),
            span,
        )
        for row, score, values, span in zip(found.rows, scores, found.features, spans, strict=True)
    ]
    scored.sort(key=lambda s: -s.score)
    return scored


def candidates(
    snapshot: IndexSnapshot,
    question: str,
    query_vector: np.ndarray,
    hits: list[PassageHit],
    texts: dict[str, str],
) -> Candidates:
    """The sentences of the passages `hits` (best first) and their features, in text order."""
    top = hits
    chunk_of = {int(snapshot.chunk_ids[h.position]): (rank, h) for rank, h in enumerate(top)}
    rows: list[SentenceRow] = snapshot.sentences_of(list(chunk_of))
    if not rows:
        return Candidates([], [], np.zeros((0, len(FEATURES))), [])
    n = len(rows)
    sentence_texts = [texts[doc_id][start:end] for _, _, doc_id, start, end in rows]
    vectors = snapshot.sentence_vectors_of([r[0] for r in rows])
    before = np.array([i > 0 and rows[i - 1][1] == r[1] for i, r in enumerate(rows)])
    after = np.append(before[1:], False)
    similarity = vectors @ query_vector
    window = _window(vectors, before, after)
    context = (
        window / np.maximum(np.linalg.norm(window, axis=1, keepdims=True), 1e-9)
    ) @ query_vector

    weights = _term_weights(snapshot, question)
    total = sum(weights.values()) or 1.0
    rarest = max(weights.values(), default=1.0)
    question_terms = tokenize_query(question)
    pairs = set(zip(question_terms, question_terms[1:], strict=False))
    sentence_terms = [tokenize_query(text) for text in sentence_texts]
    term_sets = [set(terms) for terms in sentence_terms]
    window_sets = [
        term_sets[i]
        | (term_sets[i - 1] if before[i] else set())
        | (term_sets[i + 1] if after[i] else set())
        for i in range(n)
    ]
    chunk_sets: dict[int, set[str]] = {}
    for row, term_set in zip(rows, term_sets, strict=True):
        chunk_sets.setdefault(row[1], set()).update(term_set)

    def covered(terms: set[str]) -> float:
        return sum(w for t, w in weights.items() if t in terms) / total

    coverage = np.array([covered(terms) for terms in term_sets])
    doc_counts: dict[str, int] = {}
    for _, hit in chunk_of.values():
        doc = snapshot.chunk_doc[hit.position]
        doc_counts[doc] = doc_counts.get(doc, 0) + 1
    best_lexical = max((h.lexical for h in top), default=0.0) or 1.0
    answer_type = expected_type(question)
    question_words = {w.lower() for w in _RAW_WORD.findall(question) if tokenize_query(w)}

    features = np.zeros((n, len(FEATURES)))
    spans: list[tuple[int, int] | None] = []
    for i, (_, chunk_id, doc_id, start, _end) in enumerate(rows):
        rank, hit = chunk_of[chunk_id]
        text = sentence_texts[i]
        span = None
        if answer_type is not None:
            span = _nearest_span(text, candidate_spans(text, answer_type, question), question_words)
        spans.append((start + span[0], start + span[1]) if span else None)
        terms = sentence_terms[i]
        missing = [w for t, w in weights.items() if t not in window_sets[i]]
        features[i] = (
            similarity[i],
            0.0,
            context[i],
            _dense_of(snapshot, hit, query_vector),
            hit.lexical / best_lexical,
            1.0 / (1 + rank),
            coverage[i],
            0.0,
            covered(window_sets[i]),
            covered(chunk_sets[chunk_id]),
            len(pairs & set(zip(terms, terms[1:], strict=False))) / max(len(pairs), 1),
            max(missing, default=0.0) / rarest,
            sum(t not in weights for t in terms) / max(len(terms), 1),
            *_novel_words(text, question_words),
            _spread(terms, weights),
            float(answer_type is not None),
            float(span is not None),
            np.log1p(len(text.split())),
            float(_not_an_answer(text)),
            doc_counts[doc_id] / len(top),
        )
    features[:, FEATURES.index("sentence_gap")] = similarity - similarity.max()
    features[:, FEATURES.index("coverage_gap")] = coverage - coverage.max()
    return Candidates(rows, sentence_texts, features, spans)


def _novel_words(text: str, question_words: set[str]) -> tuple[float, float]:
    """How many names and numbers the sentence adds to the question: answers are among them."""
    names = numbers = 0
    for i, match in enumerate(_RAW_WORD.finditer(text)):
        word = match.group()
        if word.lower() in question_words:
            continue
        if _DIGIT.search(word):
            numbers += 1
        elif i > 0 and word[0].isupper():
            names += 1
    return float(np.log1p(names)), float(np.log1p(numbers))


def _spread(terms: list[str], weights: dict[str, float]) -> float:
    """Share of the sentence between its first and last question term: small = tight match."""
    positions = [i for i, t in enumerate(terms) if t in weights]
    if len(positions) < 2:
        return 1.0
    return (positions[-1] - positions[0] + 1) / len(terms)


def _term_weights(snapshot: IndexSnapshot, question: str) -> dict[str, float]:
    idf = snapshot.term_idf
    # A question term the articles never use is as telling as their rarest term.
    unseen = _rarest(snapshot)
    # In question order, not set order: sums over these weights must not change with the
    # process's string hashing, or replicas would score the same question differently.
    return {t: idf.get(t, unseen) for t in dict.fromkeys(tokenize_query(question))}


_RAREST: weakref.WeakKeyDictionary[IndexSnapshot, float] = weakref.WeakKeyDictionary()


def _rarest(snapshot: IndexSnapshot) -> float:
    """The largest idf of a snapshot, once per snapshot (a scan of the whole vocabulary)."""
    value = _RAREST.get(snapshot)
    if value is None:
        value = _RAREST[snapshot] = max(snapshot.term_idf.values(), default=1.0)
    return value


def _window(vectors: np.ndarray, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    window = vectors.copy()
    window[1:] += vectors[:-1] * before[1:, None]
    window[:-1] += vectors[1:] * after[:-1, None]
    return window


def _not_an_answer(text: str) -> bool:
    """Too short to answer, too long to quote, or itself a question."""
    words = len(text.split())
    return words < 4 or words > MAX_SENTENCE_WORDS or text.rstrip("”\"’' ").endswith("?")


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
