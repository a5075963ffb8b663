"""Second stage: an extractive reader that looks for the answer itself inside the best passages.

The first-stage ranker (qa/ranker.py) scores sentences by hand-made features, so a sentence on
the question's topic can outrank the next one, which holds the answer ("Which cosmonauts posed
with the flags?" -> "...its cosmonauts posing with the flags..." over "The photograph featured
Oleg Artemyev, ..."). The reader is the bundled MiniLM fine-tuned by tools/train_reader.py, on
training articles only (and SQuAD-shifts sets on other text), to mark answer spans. It reads the
question with the first stage's best sentences (fewer when they are long), those of one passage
together (the rest of that passage left out); a sentence's reader score is its best span's score
over the passage's "no answer" score. A tiny logistic model (qa/reader.json), fitted to put a
question's right sentence first, joins that with the first stage's score and holds the abstain
threshold; the best span is the answer's `span`. The passage of the first stage's best sentence
is read first, and the others only when none of its sentences is already a confident answer
(QA_READER_STOP) and one of them is at least near one (QA_READER_FLOOR). Shipped as an int8 ONNX
file run by onnxruntime (no torch at run time).
`QA_READER=off`, or a missing model file, keeps the first stage alone.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from tokenizers import Encoding, Tokenizer

from index import config
from index.embedder import cpu_session, query_threads
from qa.ranker import Ranker, load_ranker

MODEL_FILE = Path(__file__).with_name("reader.onnx")
WEIGHTS_FILE = Path(__file__).with_name("reader.json")
# The first stage's READ_SENTENCES best sentences are read (QA_READER_SENTENCES), each with
# those of them that share its passage, in at most MAX_PASSAGES passages (QA_READER_PASSAGES).
# With the ranker fitted to rank and the reader before, on training half B (1,500 questions,
# combination refitted each time) top-1 was 0.7953 / 0.7947 / 0.8033 and answer@1 at the
# threshold 0.776 / 0.773 / 0.784 at 4 / 6 / 8 sentences; on `make eval`, 8 against 6: 0.736
# against 0.732, citation@1 0.877 against 0.865 (docs/benchmarks.md). Reading the 4 passages
# whole gave no better top-1 for more CPU (before that ranker: 0.7820 whole, 0.7833 at 8
# sentences; 6 took 36% less CPU per question than whole passages on `make eval`). With the
# shipped reader, 10 against 8: 0.7960 / 0.781 against 0.7953 / 0.778, for 3% more passages
# read (2026-12-04).
READ_SENTENCES = config.env_int("QA_READER_SENTENCES", 8)
MAX_PASSAGES = config.env_int("QA_READER_PASSAGES", 3)
# Of those, the best one and each next one while their characters stay within this
# (QA_READER_CHARS; 0: no limit): long news sentences made the slowest questions read 3
# passages of 120-150 tokens. On training half B (shipped stop and floor) top-1 0.8380 at 900
# against 0.8387 unlimited for 14% fewer tokens read (182 against 211 per question; 800: 0.8367,
# 20% fewer; 700: 0.8320); at 122k news chunks, in process, 18.6-20.0 against 21.5-22.2 ms CPU
# per question, p95 26.0-28.4 against 31.1-32.4 ms (2026-12-04). qa/reader.json stays the one
# fitted on unlimited reading: refitted on this one (`--combination`), half B top-1 at the shipped
# stop was 0.8360 against 0.8380 and its threshold (0.1472) gave `make eval` answer@1 0.749.
READ_CHARS = config.env_int("QA_READER_CHARS", 900)
# The other passages are not read when a sentence of the first one already scores this much
# (combined). On training half B (1,500 questions, tools/train_reader.py early_stop_table), with
# each passage read alone (SpanReader.read), the shipped reader's top-1 is 0.8307 / 0.8373 /
# 0.8393 at 0.35 / 0.45 / 0.6, with 1.66 / 1.86 / 2.24 passages read per question, against
# 0.8387 and 3.84 passages reading every one (at most 4 passages). At most 3 passages and 0.6:
# 0.8380 and 1.87 passages, as many as 4 and 0.45 (0.8373), and 3 instead of 3.98 for the
# questions of half B asked where their article is missing (2026-12-04).
STOP_SCORE = config.env_float("QA_READER_STOP", 0.6)
# Nor when no sentence of the first passage scores this much: the passage of the first stage's
# best sentence holds nothing near an answer, so the articles most likely do not hold one. On half
# B (3 passages, stop 0.6), 0.02 reads 1.60 instead of 3 passages for a question whose article is
# missing, for 2 right top-1 answers lost of 1,500, one of them above the abstain threshold
# (0.01: 2.23 passages, 1 and 1 lost; 0.03: 1.38, 5 and 4); `0` reads them all (2026-12-04).
FLOOR_SCORE = config.env_float("QA_READER_FLOOR", 0.02)
# Passages of one question read at once, each on its own thread (QA_READER_PARALLEL).
PARALLEL_READS = config.env_int("QA_READER_PARALLEL", os.cpu_count() or 1)
MAX_TOKENS = 256
MAX_SPAN_TOKENS = 30
# A longer question is cut to this many characters (a word piece is at least one character),
# so the passage always keeps room among MAX_TOKENS.
MAX_QUESTION_CHARS = 200
COMBINED = ("reader", "first_stage")
# A sentence without one of these at its end (a headline) gets a full stop in the gap after it,
# so the reader does not read it as one sentence with the next. A clause of a long sentence
# (index.chunking.MAX_SENTENCE_WORDS) has one: a semicolon, comma, colon or dash.
SENTENCE_ENDS = tuple(".!?:;,)\"'-\u2013\u2014\u201d\u2019")
# The reader score of a sentence cut off by MAX_TOKENS; scores are clipped to +-30.
NOT_READ = -30.0


@dataclass(frozen=True)
class Passage:
    """Text the reader reads; `sentences` are (start, end) offsets into it, one per candidate."""

    text: str
    sentences: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class SentenceReading:
    """A sentence's best span score over its passage's no-answer score, and that span."""

    score: float
    span: tuple[int, int] | None


def tokenizer() -> Tokenizer:
    """The bundled model's tokenizer: the passage is cut to fit, never the question."""
    loaded = Tokenizer.from_file(str(Path(config.model_path()) / "tokenizer.json"))
    loaded.enable_truncation(MAX_TOKENS, strategy="only_second")
    loaded.enable_padding()
    return loaded


def encode(tok: Tokenizer, pairs: Sequence[tuple[str, str]]) -> list[Encoding]:
    """(question, passage) pairs, padded to the longest; questions cut to MAX_QUESTION_CHARS."""
    return tok.encode_batch([(q[:MAX_QUESTION_CHARS], text) for q, text in pairs])


def model_inputs(encodings: Sequence[Encoding]) -> dict[str, np.ndarray]:
    """The int64 arrays both the ONNX file and torch take."""
    return {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }


def passage_tokens(encoding: Encoding) -> np.ndarray:
    """Positions of the passage's tokens (second sequence, no special tokens)."""
    second = np.array(encoding.type_ids) == 1
    return np.flatnonzero(second & (np.array(encoding.special_tokens_mask) == 0))


def read_sentences(
    encoding: Encoding, logits: np.ndarray, passage: Passage
) -> list[SentenceReading]:
    """Each sentence's best span (start logit + end logit, within the sentence, at most
    MAX_SPAN_TOKENS) minus the no-answer span at [CLS]. In numpy throughout: 0.14 ms per
    passage of 122 tokens, where Python loops over its tokens took 0.57 ms."""
    start_logits, end_logits = logits[:, 0], logits[:, 1]
    positions = passage_tokens(encoding)
    offsets = np.array(encoding.offsets, dtype=np.int64).reshape(-1, 2)[positions]
    owner = np.full(len(positions), -1)
    for k, (first, last) in enumerate(passage.sentences):
        owner[(offsets[:, 0] >= first) & (offsets[:, 0] < last)] = k
    pair = start_logits[positions][:, None] + end_logits[positions][None, :]
    gap = np.arange(len(positions))[None, :] - np.arange(len(positions))[:, None]
    valid = (gap >= 0) & (gap < MAX_SPAN_TOKENS) & (owner[:, None] == owner[None, :])
    valid &= owner[:, None] >= 0
    pair = np.where(valid, pair, -np.inf)
    best_end = pair.argmax(axis=1)
    best = pair[np.arange(len(positions)), best_end] if len(positions) else np.zeros(0)
    no_answer = float(start_logits[0] + end_logits[0])
    readings = []
    for k in range(len(passage.sentences)):
        rows = np.flatnonzero((owner == k) & np.isfinite(best))
        if not len(rows):
            readings.append(SentenceReading(NOT_READ, None))
            continue
        row = rows[np.argmax(best[rows])]
        span = (int(offsets[row, 0]), int(offsets[best_end[row], 1]))
        score = float(np.clip(best[row] - no_answer, NOT_READ, -NOT_READ))
        readings.append(SentenceReading(score, span))
    return readings


def first_stage_logit(scores: np.ndarray) -> np.ndarray:
    """The first stage's probability back on the logit scale the combination is linear in."""
    clipped = np.clip(np.asarray(scores, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(clipped / (1 - clipped))


def passages_to_read(
    groups: Sequence[int], first_stage: np.ndarray, sentences: int | None = None
) -> list[np.ndarray]:
    """Candidate indices to read, per passage: the `sentences` (READ_SENTENCES) best sentences
    grouped by passage (chunk; `groups[i]` is candidate i's), in text order, the passage of the
    best sentence first, at most MAX_PASSAGES passages. The other sentences of a passage are
    not read: the reader's CPU goes to the likely answers, and fewer distractors cost no top-1."""
    chosen: dict[int, list[int]] = {}
    for i in np.argsort(-first_stage, kind="stable")[: sentences or READ_SENTENCES]:
        group = int(groups[i])
        if group in chosen or len(chosen) < MAX_PASSAGES:
            chosen.setdefault(group, []).append(int(i))
    return [np.array(sorted(members)) for members in chosen.values()]


class SpanReader:
    """The int8 ONNX reader: start and end logits for every token of (question, passage)."""

    def __init__(self, model: Path = MODEL_FILE) -> None:
        self._session = cpu_session(model, query_threads())
        self._tokenizer = tokenizer()
        self._pool = ThreadPoolExecutor(max(PARALLEL_READS, 1), thread_name_prefix="reader")

    def read(self, question: str, passages: Sequence[Passage]) -> list[list[SentenceReading]]:
        """Each passage in a run of its own: int8 activations are quantised with one scale per
        run, so a passage read in a batch would score differently with different companions
        (and padding). On training half B, alone against batched: top-1 0.8213 against 0.8227
        (2 of 1,500), 111 against 130 s of reading (no padding). Several passages are read at
        once (PARALLEL_READS), each run on one thread, so a question waits for one run, not
        for the sum of them, while a core is free."""
        if len(passages) < 2 or PARALLEL_READS < 2:
            return [self._read_one(question, passage) for passage in passages]
        return list(self._pool.map(lambda passage: self._read_one(question, passage), passages))

    def _read_one(self, question: str, passage: Passage) -> list[SentenceReading]:
        (encoding,) = encode(self._tokenizer, [(question, passage.text)])
        (logits,) = self._session.run(["span_logits"], model_inputs([encoding]))
        return read_sentences(encoding, np.asarray(logits[0], dtype=np.float64), passage)


class Reader:
    """The span reader plus its learned combination with the first stage."""

    def __init__(
        self,
        model: Path = MODEL_FILE,
        weights: Path = WEIGHTS_FILE,
        stop_score: float = STOP_SCORE,
        floor_score: float = FLOOR_SCORE,
    ) -> None:
        self.span_reader = SpanReader(model)
        self.combiner: Ranker = load_ranker(weights, features=COMBINED)
        self.stop_score = stop_score
        self.floor_score = floor_score

    def rescore(
        self,
        question: str,
        texts: Sequence[str],
        starts: Sequence[int],
        groups: Sequence[int],
        first_stage: np.ndarray,
        read_all: bool = False,
    ) -> tuple[np.ndarray, dict[int, tuple[int, int]]]:
        """Combined scores (unread candidates stay below every read one) and the best span of
        each read candidate, in the coordinate of `starts` (the candidates' article offsets).
        `read_all`: no early stop, for answers drawn from several passages (a timeline)."""
        plan, passages = plan_reading(texts, starts, groups, first_stage)
        if not plan:
            return first_stage, {}
        results = self.span_reader.read(question, passages[:1])
        combined = self.combine(plan, results, first_stage)
        if len(plan) > 1 and (
            read_all or reads_on(combined.max(), self.stop_score, self.floor_score)
        ):
            results += self.span_reader.read(question, passages[1:])
            combined = self.combine(plan, results, first_stage)
        plan = plan[: len(results)]
        scores = np.minimum(first_stage, np.nextafter(combined.min(initial=1.0), -np.inf))
        scores[np.concatenate(plan)] = combined
        # Spans come back in passage offsets; a passage starts where its first candidate does.
        spans = {
            int(i): (starts[members[0]] + r.span[0], starts[members[0]] + r.span[1])
            for members, passage in zip(plan, results, strict=True)
            for i, r in zip(members, passage, strict=True)
            if r.span
        }
        return scores, spans

    def combine(
        self,
        plan: Sequence[np.ndarray],
        results: Sequence[Sequence[SentenceReading]],
        first_stage: np.ndarray,
    ) -> np.ndarray:
        """Combined scores of the candidates of the passages read so far (the first
        `len(results)` of `plan`), in plan order."""
        read = np.concatenate(plan[: len(results)])
        found = [r for passage in results for r in passage]
        return self.combiner.score(combination_features(found, first_stage[read]))


def reads_on(first_best: float, stop: float = STOP_SCORE, floor: float = FLOOR_SCORE) -> bool:
    """Whether the other passages are read, given the first passage's best combined score."""
    return floor <= first_best < stop


def combination_features(found: Sequence[SentenceReading], first_stage: np.ndarray) -> np.ndarray:
    """The combiner's input (COMBINED), one row per read sentence: its reader score and its
    first-stage score as a logit."""
    return np.column_stack([[r.score for r in found], first_stage_logit(first_stage)])


def plan_reading(
    texts: Sequence[str], starts: Sequence[int], groups: Sequence[int], first_stage: np.ndarray
) -> tuple[list[np.ndarray], list[Passage]]:
    """Which candidates are read, passage by passage, and those passages' texts."""
    plan = passages_to_read(groups, first_stage, sentences_to_read(texts, first_stage))
    return plan, passages_in(plan, texts, starts)


def sentences_to_read(
    texts: Sequence[str], first_stage: np.ndarray, budget: int | None = None
) -> int:
    """How many of the first stage's READ_SENTENCES best sentences are read: the best one, then
    each next one while their characters stay within `budget` (default READ_CHARS; 0: all)."""
    budget = READ_CHARS if budget is None else budget
    best = np.argsort(-first_stage, kind="stable")[:READ_SENTENCES]
    if budget <= 0:
        return len(best)
    lengths = np.cumsum([len(texts[i]) for i in best])
    return max(1, int(np.searchsorted(lengths, budget, side="right")))


def passages_in(
    plan: Sequence[np.ndarray], texts: Sequence[str], starts: Sequence[int]
) -> list[Passage]:
    """The passages of a plan, each from its candidates' texts and article offsets."""
    return [passage_of([texts[i] for i in m], [starts[i] for i in m]) for m in plan]


def passage_of(texts: Sequence[str], starts: Sequence[int]) -> Passage:
    """One passage from its sentences, in text order; the gaps between them become spaces
    (a full stop first after a sentence without an end, SENTENCE_ENDS)."""
    base = starts[0]
    length = max(s + len(t) for s, t in zip(starts, texts, strict=True)) - base
    chars = [" "] * length
    for text, start in zip(texts, starts, strict=True):
        chars[start - base : start - base + len(text)] = text
        end = start - base + len(text)
        if end < length and chars[end] == " " and not text.rstrip().endswith(SENTENCE_ENDS):
            chars[end] = "."
    return Passage(
        "".join(chars),
        tuple((s - base, s - base + len(t)) for s, t in zip(starts, texts, strict=True)),
    )


def enabled() -> bool:
    """On when the model and its weights are shipped, unless QA_READER=off."""
    if os.environ.get("QA_READER", "on").strip().lower() in ("off", "0", "false", "no"):
        return False
    return MODEL_FILE.is_file() and WEIGHTS_FILE.is_file()


def min_answer_score() -> float:
    """The abstain threshold on combined scores, read without loading the model."""
    return load_ranker(WEIGHTS_FILE, features=COMBINED).min_answer_score


@lru_cache(maxsize=1)
def reader() -> Reader:
    return Reader()
