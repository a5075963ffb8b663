"""Sentence-aware chunking with character offsets, dropping repeated sentences.

Sentences are the atoms: every chunk is a run of whole sentences, and both carry offsets into
the article text, so a quote can always be verified against its source.
"""

from __future__ import annotations

import bisect
import logging
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import pysbd
from langchain_text_splitters import TextSplitter

from index import config

logging.getLogger("langchain_text_splitters.base").setLevel(logging.ERROR)

_WORD = re.compile(r"\w+")
_NEAR_DUP_CONTAINMENT = 0.8
_NEAR_DUP_MIN_WORDS = 6


@dataclass(frozen=True)
class Sentence:
    start: int
    end: int
    norm_hash: int


@dataclass(frozen=True)
class Chunk:
    start: int
    end: int
    sentences: tuple[Sentence, ...]


@dataclass
class DuplicateFilter:
    """Remembers sentences already kept, exactly across articles and nearly within one."""

    seen_hashes: set[int] = field(default_factory=set)
    _article_words: list[set[str]] = field(default_factory=list)

    def start_article(self) -> None:
        self._article_words = []

    def is_duplicate(self, text: str) -> tuple[bool, int]:
        words = _WORD.findall(text.lower())
        digest = zlib.crc32(" ".join(words).encode("utf-8"))
        if digest in self.seen_hashes:
            return True, digest
        bag = set(words)
        if len(bag) >= _NEAR_DUP_MIN_WORDS and any(
            len(bag & earlier) >= _NEAR_DUP_CONTAINMENT * len(bag)
            for earlier in self._article_words
        ):
            return True, digest
        self.seen_hashes.add(digest)
        self._article_words.append(bag)
        return False, digest


_segmenter = pysbd.Segmenter(language="en", clean=False)
# pysbd's time grows with the square of its input: longer lines are cut (at a sentence end where
# there is one) before segmenting, so a huge one-line text cannot stall an ingest for hours.
_MAX_SEGMENT_CHARS = 2000
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*\s+")


def _segments(text: str, start: int) -> Iterator[tuple[int, str]]:
    """(offset, text) of each line of text[start:], long lines cut into bounded pieces."""
    for line in re.finditer(r"[^\n]+", text[start:]):
        offset, rest = start + line.start(), line.group()
        while len(rest) > _MAX_SEGMENT_CHARS:
            window = rest[:_MAX_SEGMENT_CHARS]
            ends = [match.end() for match in _SENTENCE_END.finditer(window)]
            cut = ends[-1] if ends else (window.rfind(" ") + 1 or _MAX_SEGMENT_CHARS)
            yield offset, rest[:cut]
            offset, rest = offset + cut, rest[cut:]
        yield offset, rest


# The longest quote an answer gives, in words (split on whitespace), as qa.evaluate counts it.
# A longer sentence is cut into clauses: on `make eval`'s 1,000 SQuAD questions, 24 had their
# answer only in sentences of 61-114 words, too long a quote to count as answered.
MAX_SENTENCE_WORDS = 60
# Where a long sentence is cut, best first: after a semicolon; after a comma, colon or dash.
_CLAUSE_ENDS = (
    re.compile(r"(;)\s+"),
    re.compile(r"([,:]|\s[\u2013\u2014-]|[\u2013\u2014])\s+"),
)
_MIN_CLAUSE_WORDS = 5
_TOKEN = re.compile(r"\S+")


def _clauses(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """text[start:end] if it is at most MAX_SENTENCE_WORDS words, else its clauses: cut in two at
    the best kind of clause end (_CLAUSE_ENDS) nearest its middle, each half again so; without
    one, at the middle word."""
    words = [m.start() for m in _TOKEN.finditer(text, start, end)]
    if len(words) <= MAX_SENTENCE_WORDS:
        return [(start, end)]
    middle = len(words) / 2
    for pattern in _CLAUSE_ENDS:
        cuts = [
            (abs(before - middle), m.end(1), m.end())
            for m in pattern.finditer(text, start, end)
            if _MIN_CLAUSE_WORDS
            <= (before := bisect.bisect_left(words, m.end()))
            <= len(words) - _MIN_CLAUSE_WORDS
        ]
        if cuts:
            _, left_end, right_start = min(cuts)
            break
    else:
        right_start = words[len(words) // 2]
        left_end = start + len(text[start:right_start].rstrip())
    return _clauses(text, start, left_end) + _clauses(text, right_start, end)


def split_sentences(text: str, start: int = 0) -> list[tuple[int, int]]:
    """(start, end) of each sentence of text[start:], trimmed, never spanning a line break; one
    longer than MAX_SENTENCE_WORDS comes as clauses (_clauses)."""
    spans: list[tuple[int, int]] = []
    for offset, line_text in _segments(text, start):
        cursor = 0
        for piece in _segmenter.segment(line_text):
            stripped = piece.strip()
            if not stripped:
                continue
            found = line_text.find(stripped, cursor)
            if found < 0:  # the segmenter altered the text; keep the rest of the line whole
                rest = line_text[cursor:].strip()
                if rest:
                    found = line_text.index(rest, cursor)
                    spans.extend(_clauses(text, offset + found, offset + found + len(rest)))
                break
            spans.extend(_clauses(text, offset + found, offset + found + len(stripped)))
            cursor = found + len(stripped)
    return spans


class _SentenceMerger(TextSplitter):
    """langchain's size-bounded merging, fed with our own sentences (no re-splitting)."""

    def split_text(self, text: str) -> list[str]:
        raise NotImplementedError("use merge()")

    def merge(self, pieces: list[str]) -> list[str]:
        return self._merge_splits(pieces, "")


def chunk_article(
    text: str, body_start: int, duplicates: DuplicateFilter, chunk_chars: int | None = None
) -> list[Chunk]:
    """Chunks of the article's non-duplicate sentences, each a run of adjacent sentences."""
    merger = _SentenceMerger(
        chunk_size=chunk_chars or config.CHUNK_CHARS, chunk_overlap=0, strip_whitespace=False
    )
    duplicates.start_article()
    runs: list[list[Sentence]] = [[]]
    for start, end in split_sentences(text, body_start):
        duplicate, digest = duplicates.is_duplicate(text[start:end])
        if duplicate:
            runs.append([])
        else:
            runs[-1].append(Sentence(start, end, digest))
    chunks: list[Chunk] = []
    for run in runs:
        if run:
            chunks.extend(_merge_run(text, run, merger))
    return chunks


def _merge_run(text: str, run: list[Sentence], merger: _SentenceMerger) -> list[Chunk]:
    # Each piece is a sentence plus the gap up to the next one, so merged pieces are exact
    # substrings of the article and chunk boundaries fall between sentences.
    pieces = [
        text[s.start : (run[i + 1].start if i + 1 < len(run) else s.end)] for i, s in enumerate(run)
    ]
    chunks: list[Chunk] = []
    index = 0
    for merged in merger.merge(pieces):
        consumed = ""
        first = index
        while index < len(run) and len(consumed) < len(merged):
            consumed += pieces[index]
            index += 1
        members = tuple(run[first:index])
        chunks.append(Chunk(members[0].start, members[-1].end, members))
    return chunks
