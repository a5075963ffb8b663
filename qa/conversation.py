"""Conversations: sessions that remember earlier turns, and follow-ups that lean on them.

A follow-up ("and when was that?", "who said it?", "what about Luhansk?") is answered by asking
again with the earlier question's subject added, never by generating text; the response names
the turn it used.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from index.vectors import tokenize_query

MAX_TURNS = 20

_FOLLOW_UP_START = re.compile(r"^\s*(and|also|but|so|what about|how about|and what about)\b", re.I)
_REFERENCE = re.compile(
    r"\b(it|that|this|those|these|they|them|he|she|him|her|his|its|their|"
    r"there|then|the same)\b",
    re.I,
)
_WHAT_ABOUT = re.compile(r"^\s*(?:and\s+)?(?:what|how) about\s+(?P<subject>.+?)[\s?.!]*$", re.I)
_NAME = re.compile(r"\b[A-Z][\w'’-]+")
_WORD = re.compile(r"[\w'’-]+")


@dataclass(frozen=True)
class Turn:
    question: str
    resolved: str  # the question as asked of the index, earlier subjects included


@dataclass
class Session:
    turns: list[Turn] = field(default_factory=list)
    last_used: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Resolved:
    """What to ask the index, and which earlier turn (1-based) the question leaned on."""

    query: str
    turn: int | None = None
    earlier_question: str | None = None


def is_follow_up(question: str) -> bool:
    content = tokenize_query(question)
    if _WHAT_ABOUT.match(question):
        return True
    if _FOLLOW_UP_START.match(question) and len(content) <= 3:
        return True
    return bool(_REFERENCE.search(question)) and len(content) <= 2


def resolve(question: str, turns: list[Turn]) -> Resolved:
    """The question itself, or a follow-up merged with the subject of the last turn."""
    if not turns or not is_follow_up(question):
        return Resolved(question)
    earlier = turns[-1]
    number = len(turns)
    what_about = _WHAT_ABOUT.match(question)
    if what_about:
        subject = what_about.group("subject")
        base = earlier.resolved
        if _NAME.search(subject):  # a new name replaces the earlier names, keeps the rest
            base = _NAME.sub(lambda m: m.group() if m.start() == 0 else "", base)
        return Resolved(f"{' '.join(base.split())} {subject}", number, earlier.question)
    subject_words = " ".join(w for w in _WORD.findall(earlier.resolved) if tokenize_query(w))
    return Resolved(f"{question.rstrip(' ?.!')} {subject_words}", number, earlier.question)


class SessionStore:
    """Sessions by id, bounded in number and expiring after `ttl` seconds unused."""

    def __init__(self, ttl: float, max_sessions: int) -> None:
        self.ttl = ttl
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def turns(self, session_id: str) -> list[Turn]:
        with self._lock:
            self._expire()
            session = self._sessions.get(session_id)
            return list(session.turns) if session else []

    def record(self, session_id: str, turn: Turn) -> None:
        with self._lock:
            session = self._sessions.pop(session_id, None) or Session()
            session.turns = [*session.turns, turn][-MAX_TURNS:]
            session.last_used = time.monotonic()
            self._sessions[session_id] = session
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)

    def __len__(self) -> int:
        return len(self._sessions)

    def _expire(self) -> None:
        cutoff = time.monotonic() - self.ttl
        while self._sessions:
            oldest_id, oldest = next(iter(self._sessions.items()))
            if oldest.last_used >= cutoff:
                break
            del self._sessions[oldest_id]
