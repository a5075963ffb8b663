"""Property tests: for any text, sentences and chunks map back to the source by their offsets."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from index.articles import Article, decode, parse_file
from index.chunking import MAX_SENTENCE_WORDS, DuplicateFilter, chunk_article, split_sentences

# Text shaped like articles (words, abbreviations, quotes, line breaks) mixed with arbitrary
# Unicode: odd whitespace, combining marks, right-to-left scripts, astral characters.
WORDS = st.sampled_from(
    [
        "The",
        "mayor",
        "said",
        "U.S.",
        "Gen.",
        "Dr.",
        "Kyiv",
        "“quoted”",
        "(aside)",
        "3.5",
        "Mr.",
        "end.",
        "clause,",
        "so;",
        "Why?",
        "Now!",
        "...",
        "e.g.",
        "'",
        '"',
        "—",
        "Київ",
        "東京",
        "نعم",
        "x" * 300,
    ]
)
SEPARATORS = st.sampled_from([" ", " ", " ", "\n", "\n\n", "\t", "\r\n", "\u2028", "\xa0", ". "])
ARTICLE_TEXT = st.lists(st.one_of(WORDS, SEPARATORS, st.text(max_size=8)), max_size=150).map(
    "".join
)
ANY_TEXT = st.one_of(ARTICLE_TEXT, st.text(max_size=400))
# Text the decoder returns unchanged: a leading U+FEFF is a byte-order mark, NUL means binary.
DECODABLE = st.text(max_size=300).filter(lambda s: "\x00" not in s and not s.startswith("\ufeff"))
EXAMPLES = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


@EXAMPLES
@given(text=ANY_TEXT, start=st.integers(min_value=0, max_value=50))
@example(text="A long line, cut before segmenting. " * 200, start=0)
@example(text="x" * 5000 + " tail", start=3)
@example(text="word, " * 70 + "and so on; " * 30 + "word " * 200, start=0)
def test_sentences_are_trimmed_single_line_spans_that_cover_the_text(text: str, start: int) -> None:
    start = min(start, len(text))
    spans = split_sentences(text, start)
    previous_end = start
    for begin, end in spans:
        assert previous_end <= begin < end <= len(text)
        sentence = text[begin:end]
        assert sentence == sentence.strip() and "\n" not in sentence
        assert len(sentence.split()) <= MAX_SENTENCE_WORDS  # every sentence can be quoted whole
        previous_end = end
    covered = "".join(text[begin:end] for begin, end in spans)
    assert "".join(covered.split()) == "".join(text[start:].split())  # no word is lost


@EXAMPLES
@given(
    text=ANY_TEXT,
    body_start=st.integers(min_value=0, max_value=30),
    chunk_chars=st.integers(min_value=20, max_value=600),
)
def test_chunks_are_runs_of_whole_sentences_at_their_offsets(
    text: str, body_start: int, chunk_chars: int
) -> None:
    body_start = min(body_start, len(text))
    chunks = chunk_article(text, body_start, DuplicateFilter(), chunk_chars=chunk_chars)
    reference = DuplicateFilter()
    reference.start_article()
    expected = [
        (begin, end)
        for begin, end in split_sentences(text, body_start)
        if not reference.is_duplicate(text[begin:end])[0]
    ]
    assert [(s.start, s.end) for c in chunks for s in c.sentences] == expected
    previous_end = body_start
    for chunk in chunks:
        assert previous_end <= chunk.start < chunk.end <= len(text)
        assert (chunk.start, chunk.end) == (chunk.sentences[0].start, chunk.sentences[-1].end)
        assert len(chunk.sentences) == 1 or chunk.end - chunk.start <= chunk_chars
        previous_end = chunk.end


@EXAMPLES
@given(text=ANY_TEXT)
def test_no_two_indexed_sentences_say_the_same_words(text: str) -> None:
    doubled = f"{text}\n{text}"
    kept = [s for c in chunk_article(doubled, 0, DuplicateFilter()) for s in c.sentences]
    normalised = [words(doubled[s.start : s.end]) for s in kept]
    assert len(normalised) == len(set(normalised))


@EXAMPLES
@given(text=DECODABLE)
def test_decoding_gives_back_the_text_in_every_accepted_encoding(text: str) -> None:
    assert decode(text.encode("utf-8")) == text
    assert decode(b"\xef\xbb\xbf" + text.encode("utf-8")) == text
    assert decode(text.encode("utf-16")) == text
    assert decode(b"\xfe\xff" + text.encode("utf-16-be")) == text


@EXAMPLES
@given(text=DECODABLE.filter(str.strip))
def test_a_text_file_is_stored_exactly_as_written(text: str) -> None:
    articles = [
        a for a in parse_file(Path("story.txt"), text.encode("utf-8"), "") if isinstance(a, Article)
    ]
    assert len(articles) == 1
    assert articles[0].text == text and 0 <= articles[0].body_start <= len(text)


@EXAMPLES
@given(texts=st.lists(st.text(min_size=1, max_size=80).filter(str.strip), min_size=1, max_size=4))
@example(texts=["A line separator\u2028and a next-line\x85stay inside the record."])
def test_jsonl_records_keep_their_text_whatever_it_holds(texts: list[str]) -> None:
    lines = [json.dumps({"id": str(i), "text": t}, ensure_ascii=False) for i, t in enumerate(texts)]
    items = list(parse_file(Path("feed.jsonl"), "\n".join(lines).encode("utf-8"), ""))
    assert [(a.doc_id, a.text) for a in items if isinstance(a, Article)] == [
        (str(i), t) for i, t in enumerate(texts)
    ]
