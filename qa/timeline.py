"""Timelines: for questions about how something developed, one cited sentence per date."""

from __future__ import annotations

import re

from index.vectors import tokenize_query
from qa.select import ScoredSentence

_DEVELOPMENT = re.compile(
    r"\b(what happened|how did .+ (change|develop|evolve|unfold|progress|go)|"
    r"how has .+ (changed|developed|evolved)|timeline|over time|developments|history of)",
    re.I,
)
# Two answers this close from articles of different dates compete: show both, dated.
COMPETING_MARGIN = 0.03
# A timeline entry needs less support than the answer: it shows a stage, not the answer.
ENTRY_MARGIN = 0.1
MAX_ENTRIES = 8
# Words that ask for events without naming what they are about.
_EVENT_WORDS = {"happen", "occur", "news", "new", "latest", "event", "go", "on"}


def asks_for_development(question: str) -> bool:
    return bool(_DEVELOPMENT.search(question))


_AND_WHEN = re.compile(r"[,;]?\s*\b(and|&)\s+when\b[^?.!]*", re.I)


def without_when(question: str) -> str:
    """ "What happened to X, and when?" ranks like "What happened to X?": the timeline's dates
    answer the "when", so no single sentence needs to hold a date."""
    return _AND_WHEN.sub("", question) if asks_for_development(question) else question


_NEWS_ABOUT = re.compile(
    r"^\s*(?:what(?:'s|\s+is|\s+are)\s+(?:the\s+)?(?:latest|newest|new|news|updates?)"
    r"|(?:is\s+there\s+|are\s+there\s+)?any\s+(?:news|updates?))"
    r"\s+(?:on|about|with|regarding|for|from|of)\s+(?P<subject>.+?)[\s?.!]*$",
    re.I,
)


def selection_query(question: str) -> str:
    """The question as the sentence selector reads it. "What is the latest on X?" asks what
    happened to X (no sentence holds "the latest"); "..., and when?" drops the "when"."""
    news = _NEWS_ABOUT.match(question)
    if news:
        question = f"What happened to {news['subject']}?"
    return without_when(question)


def has_subject(question: str) -> bool:
    """False for "What happened?" and the like, which name no person, place or thing."""
    return any(term not in _EVENT_WORDS for term in tokenize_query(question))


def pick_timeline(
    question: str, ranked: list[ScoredSentence], dates: dict[str, str | None], min_score: float
) -> list[ScoredSentence]:
    """The best sentence of each article date, oldest first; empty unless dates differ."""
    supported = [s for s in ranked if s.score >= min_score - ENTRY_MARGIN and dates.get(s.doc_id)]
    if not supported:
        return []
    if not asks_for_development(question):
        best = supported[0]
        rivals = [
            s
            for s in supported[1:]
            if best.score - s.score <= COMPETING_MARGIN and dates[s.doc_id] != dates[best.doc_id]
        ]
        if not rivals:
            return []
        supported = [best, *rivals]
    by_date: dict[str, ScoredSentence] = {}
    for sentence in supported:  # best first, so the first seen per date is its best
        by_date.setdefault(str(dates[sentence.doc_id]), sentence)
    if len(by_date) < 2:
        return []
    return [by_date[day] for day in sorted(by_date)][:MAX_ENTRIES]
