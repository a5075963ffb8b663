"""The span reader: real sample-article passages, span arithmetic, and the ONNX file vs torch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from index.chunking import split_sentences
from qa import reader as second_stage
from qa.reader import (
    MAX_SPAN_TOKENS,
    MODEL_FILE,
    WEIGHTS_FILE,
    Passage,
    Reader,
    SpanReader,
    encode,
    passage_of,
    passage_tokens,
    read_sentences,
    tokenizer,
)

ARTICLES = Path(__file__).resolve().parent.parent / "data" / "articles"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

shipped = pytest.mark.skipif(
    not (MODEL_FILE.is_file() and WEIGHTS_FILE.is_file()),
    reason="qa/reader.onnx is not built (make train)",
)

# (article, question, the answer) — not dev questions: the shipped model never saw these.
EXAMPLES = [
    (
        "001_b23dfde50d28c48d.txt",
        "Which former astronaut condemned the Russian crew's gesture?",
        "Terry Virts",
    ),
    (
        "003_140fda5b5716f268.txt",
        "What kind of bombers fired cruise missiles from Belarusian airspace?",
        "Tu-22M3",
    ),
]


def _passage_around(article: str, phrase: str, before: int = 2, after: int = 2) -> Passage:
    """A few real sentences of the article, the one holding `phrase` among them."""
    text = (ARTICLES / article).read_text(encoding="utf-8")
    bounds = split_sentences(text)
    at = next(i for i, (a, b) in enumerate(bounds) if phrase in text[a:b])
    chosen = bounds[max(at - before, 0) : at + after + 1]
    return passage_of([text[a:b] for a, b in chosen], [a for a, _ in chosen])


def test_passage_of_keeps_offsets_and_fills_gaps() -> None:
    passage = passage_of(["One two.", "Three four."], [10, 21])
    assert passage.text == "One two.   Three four."
    assert [passage.text[a:b] for a, b in passage.sentences] == ["One two.", "Three four."]


def test_a_headline_read_with_the_next_sentence_ends_with_a_full_stop() -> None:
    """Without it the reader reads "... talks in Vladivostok North Korean leader ..." as one."""
    passage = passage_of(["Talks in Vladivostok", "Kim will travel.", "Then home"], [0, 21, 38])
    assert passage.text == "Talks in Vladivostok.Kim will travel. Then home"
    assert [passage.text[a:b] for a, b in passage.sentences] == [
        "Talks in Vladivostok",
        "Kim will travel.",
        "Then home",
    ]


def test_best_span_stays_inside_one_sentence_and_is_short() -> None:
    passage = passage_of(["Kyiv is the capital.", "Lviv lies in the west."], [0, 21])
    (encoding,) = encode(tokenizer(), [("Where is Lviv?", passage.text)])
    logits = np.zeros((len(encoding.ids), 2))
    positions = passage_tokens(encoding)
    words = [passage.text[slice(*encoding.offsets[p])] for p in positions]
    # Start on "capital" (sentence 0), end on "lies" (sentence 1): not a span.
    logits[positions[words.index("capital")], 0] = 5.0
    logits[positions[words.index("lies")], 1] = 5.0
    # Inside sentence 1: "west" alone.
    logits[positions[words.index("west")], 0] = 3.0
    logits[positions[words.index("west")], 1] = 3.0
    logits[0] = (1.0, 1.0)  # no-answer score 2
    first, second = read_sentences(encoding, logits, passage)
    assert second.span is not None and passage.text[slice(*second.span)] == "west"
    assert second.score == pytest.approx(6.0 - 2.0)
    assert first.span is not None and first.score < second.score
    # A span may not run past MAX_SPAN_TOKENS.
    long_text = " ".join(["word"] * (MAX_SPAN_TOKENS + 5)) + "."
    long_passage = passage_of([long_text], [0])
    (encoding,) = encode(tokenizer(), [("Which word?", long_passage.text)])
    logits = np.zeros((len(encoding.ids), 2))
    positions = passage_tokens(encoding)
    logits[positions[0], 0] = logits[positions[-2], 1] = 10.0
    (reading,) = read_sentences(encoding, logits, long_passage)
    assert reading.score == pytest.approx(10.0)  # not 20: the far end is out of reach
    assert reading.span is not None
    assert len(long_passage.text[slice(*reading.span)].split()) <= MAX_SPAN_TOKENS


def test_training_targets_point_at_the_answer_tokens() -> None:
    from tools.train_reader import answer_span, token_targets

    passage = _passage_around(*EXAMPLES[1][::2])
    span = answer_span(passage, ["Tu-22M3"])
    assert span is not None and passage.text[slice(*span)] == "Tu-22M3"
    (encoding,) = encode(tokenizer(), [(EXAMPLES[1][1], passage.text)])
    targets = token_targets(encoding, span)
    assert targets is not None
    first, last = targets
    assert passage.text[encoding.offsets[first][0] : encoding.offsets[last][1]] == "Tu-22M3"
    assert token_targets(encoding, None) == (0, 0)


def test_shifted_examples_mark_the_answer_in_its_chunk_and_skip_held_out_articles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import random

    from tools import train_reader

    filler = " ".join(
        f"Sentence number {i} says nothing at all about the harbour." for i in range(12)
    )
    answer_at = len(filler) + 1
    context = filler + " The ferry was built by Harland and Wolff in 1911."
    qa = {"question": "Who built the  ferry?", "answers": [{"text": "Harland and Wolff"}]}
    qa["answers"][0]["answer_start"] = answer_at + len("The ferry was built by ")
    other = {"context": "The harbour opened in 1850.", "qas": []}
    data = {
        "data": [
            {"title": "Kept", "paragraphs": [{"context": context, "qas": [qa]}, other]},
            {
                "title": "Held",
                "paragraphs": [{"context": context, "qas": [dict(qa, question="?")]}],
            },
        ]
    }
    source = tmp_path / "set.json"
    source.write_text(json.dumps(data), encoding="utf-8")
    monkeypatch.setattr(train_reader, "fetch_shifts", lambda name: source)
    monkeypatch.setattr(train_reader, "SHIFTED_NEGATIVE_SHARE", 1.0)

    examples = train_reader.shifted_examples("set.json", random.Random(1), {"Held"})

    positives = [(q, text, span) for q, text, span in examples if span]
    assert len(positives) == 1
    question, text, (start, end) = positives[0]
    assert question == "Who built the ferry?"
    assert text[start:end] == "Harland and Wolff"
    assert len(text) < len(context)  # the chunk that holds the answer, not the whole paragraph
    negatives = [text for _, text, span in examples if span is None]
    assert negatives and all("Harland and Wolff" not in t for t in negatives)
    monkeypatch.setattr(train_reader, "SHIFTED_NEGATIVE_SHARE", 0.0)
    examples = train_reader.shifted_examples("set.json", random.Random(1), {"Held"})
    assert [span is None for *_, span in examples] == [False]


def test_length_batches_keep_every_example_once_in_batches_of_similar_length() -> None:
    import random

    from tools.train_reader import BATCH, length_batches

    examples = [("q", "w " * random.Random(i).randrange(1, 200), None) for i in range(5 * BATCH)]
    batches = length_batches(examples, random.Random(3))
    assert sorted(e[1] for b in batches for e in b) == sorted(e[1] for e in examples)
    assert all(0 < len(b) <= BATCH for b in batches)
    assert all([len(e[1]) for e in b] == sorted(len(e[1]) for e in b) for b in batches)


def _dev_examples() -> list[tuple[str, str, str, list[str]]]:
    """(article, question, the gold answer found there, all gold answers) for the seed dev
    questions, each in the first of its articles that holds one (the reader never trained on
    them either)."""
    examples = []
    for line in (FIXTURES / "dev.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if not row["answers"]:  # a `none` question: no article holds its answer
            continue
        docs = row["doc"] if isinstance(row["doc"], list) else [row["doc"]]
        texts = {doc: (ARTICLES / doc).read_text(encoding="utf-8") for doc in docs}
        found = [(doc, answer) for doc in docs for answer in row["answers"] if answer in texts[doc]]
        if found:
            examples.append((found[0][0], row["question"], found[0][1], row["answers"]))
    return examples


@shipped
def test_reader_finds_the_answer_in_real_passages() -> None:
    """Over the examples and the dev questions (22), each read in a passage of five sentences
    around its answer: the best sentence holds a gold answer for 20 with the shipped reader and
    18 with the one before it, its span for 17 and 15 (2026-12-04). A learned model misses some
    near ties (the one before answered "What kind of bombers...?" with "12 Kh-22", the
    missiles, 8.23 against 8.10 for a span with "Tu-22M3"), so the test asks for a share."""
    examples = [(a, q, answer, [answer]) for a, q, answer in EXAMPLES] + _dev_examples()
    assert len(examples) == 22
    reader = SpanReader()
    sentences_right, spans = 0, []
    for article, question, anchor, answers in examples:
        passage = _passage_around(article, anchor)
        (readings,) = reader.read(question, [passage])
        best = max(range(len(readings)), key=lambda k: readings[k].score)
        sentence = passage.text[slice(*passage.sentences[best])]
        if any(a in sentence for a in answers):
            sentences_right += 1
            span = readings[best].span
            assert span is not None
            spans.append((passage.text[slice(*span)], sentence, answers))
    assert sentences_right >= 18
    right_spans = [
        (span, sentence) for span, sentence, answers in spans if any(a in span for a in answers)
    ]
    assert len(right_spans) >= 15
    # A span holds the answer and little else, never most of its sentence (at most 0.45 of its
    # words with the shipped reader; "to travel to Russia's eastern city of Vladivostok from
    # Pyongyang in an armoured train" is 14 of 35).
    assert all(len(span.split()) <= len(sentence.split()) / 2 for span, sentence in right_spans)


@shipped
def test_onnx_agrees_with_the_torch_model() -> None:
    from tools.train_reader import TORCH_COPY

    if not (TORCH_COPY / "config.json").is_file():
        pytest.skip(f"the torch model is not cached at {TORCH_COPY}")
    torch = pytest.importorskip("torch")
    from transformers import AutoModelForQuestionAnswering

    model = AutoModelForQuestionAnswering.from_pretrained(TORCH_COPY).eval()
    reader = SpanReader()
    for article, question, answer in EXAMPLES:
        passage = _passage_around(article, answer)
        inputs = second_stage.model_inputs(encode(tokenizer(), [(question, passage.text)]))
        with torch.no_grad():
            out = model(**{k: torch.from_numpy(v) for k, v in inputs.items()})
        expected = np.stack([out.start_logits[0].numpy(), out.end_logits[0].numpy()], axis=-1)
        (got,) = reader._session.run(["span_logits"], inputs)
        assert np.corrcoef(got[0].ravel(), expected.ravel())[0, 1] > 0.98
        # int8 may swap near-tied starts ("Ars" 5.97 vs "Terry" 6.37 in torch), no more.
        start = expected[:, 0]
        assert start.max() - start[int(np.argmax(got[0][:, 0]))] < 1.0


# The passage (chunk) of each of eight candidate sentences, for the reading-plan tests.
GROUPS = [0, 0, 0, 1, 1, 2, 2, 2]


def test_the_best_sentences_are_read_grouped_by_passage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(second_stage, "READ_SENTENCES", 4)
    monkeypatch.setattr(second_stage, "MAX_PASSAGES", 2)
    first_stage = np.array([0.1, 0.5, 0.9, 0.2, 0.3, 0.8, 0.1, 0.7])
    # Best four: 2 (passage 0), 5 and 7 (passage 2), 1 (passage 0); in text order per passage,
    # the best sentence's passage first.
    plan = second_stage.passages_to_read(GROUPS, first_stage)
    assert [p.tolist() for p in plan] == [[1, 2], [5, 7]]
    # A third passage is past MAX_PASSAGES: its sentence is skipped, not read.
    first_stage[4] = 0.6
    plan = second_stage.passages_to_read(GROUPS, first_stage)
    assert [p.tolist() for p in plan] == [[2], [5, 7]]


def test_long_sentences_are_read_fewer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(second_stage, "READ_CHARS", 900)
    texts = ["a" * 500, "b" * 300, "c" * 200, "d" * 100]
    first_stage = np.array([0.9, 0.8, 0.7, 0.6])
    # 500 + 300 fit in 900 characters; the third would take them to 1,000.
    assert second_stage.sentences_to_read(texts, first_stage) == 2
    plan, _ = second_stage.plan_reading(texts, [0, 501, 802, 1003], [0, 0, 1, 1], first_stage)
    assert [p.tolist() for p in plan] == [[0, 1]]
    # In the first stage's order, not the texts': the best (300) and the next (200) fit 550.
    assert second_stage.sentences_to_read(texts, np.array([0.1, 0.9, 0.8, 0.2]), 550) == 2
    # The best sentence is read however long it is; 0 lifts the limit.
    assert second_stage.sentences_to_read(texts, first_stage, 100) == 1
    assert second_stage.sentences_to_read(texts, first_stage, 0) == 4


def test_the_reader_is_fine_tuned_on_whole_passages(monkeypatch: pytest.MonkeyPatch) -> None:
    from tools import train_reader

    monkeypatch.setattr(second_stage, "MAX_PASSAGES", 2)
    monkeypatch.setattr(train_reader, "TUNE_SENTENCES", 2)
    first_stage = np.array([0.1, 0.5, 0.7, 0.2, 0.6, 0.9, 0.1, 0.3])
    # The two best sentences (5, then 2) bring their passages whole; passage 1 (sentence 4,
    # third best) is past TUNE_SENTENCES.
    plan = train_reader.tuning_plan(GROUPS, first_stage)
    assert [p.tolist() for p in plan] == [[5, 6, 7], [0, 1, 2]]


@shipped
def test_rescore_reads_the_best_sentences_and_keeps_the_rest_below(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(second_stage, "READ_CHARS", 0)  # all READ_SENTENCES, however long
    text = (ARTICLES / EXAMPLES[0][0]).read_text(encoding="utf-8")
    bounds = split_sentences(text)[:20]
    sentences = [text[a:b] for a, b in bounds]
    groups = [i // 4 for i in range(len(bounds))]  # passages of four sentences
    # A falling first stage with the answer's sentence on top: the first stage's best are it
    # and the first sentences.
    first_stage = np.linspace(0.9, 0.1, len(sentences))
    answer_at = next(i for i, s in enumerate(sentences) if EXAMPLES[0][2] in s)
    first_stage[answer_at] = 0.95
    scores, spans = Reader(stop_score=1.0).rescore(
        EXAMPLES[0][1], sentences, [a for a, _ in bounds], groups, first_stage
    )
    read = [answer_at, *range(second_stage.READ_SENTENCES - 1)]
    unread = [i for i in range(len(sentences)) if i not in read]
    assert np.all((scores[read] > 0) & (scores[read] < 1))
    assert np.all(scores[unread] < scores[read].min())
    assert spans and set(spans) <= set(read)
    for i, (a, b) in spans.items():
        assert bounds[i][0] <= a < b <= bounds[i][1]
    assert int(np.argmax(scores)) == answer_at


@shipped
def test_a_confident_or_hopeless_first_passage_is_read_alone() -> None:
    text = (ARTICLES / EXAMPLES[0][0]).read_text(encoding="utf-8")
    bounds = split_sentences(text)[:20]
    sentences = [text[a:b] for a, b in bounds]
    starts = [a for a, _ in bounds]
    groups = [i // 4 for i in range(len(bounds))]
    answer_at = next(i for i, s in enumerate(sentences) if EXAMPLES[0][2] in s)
    # The first stage puts the answer's passage first, then two others.
    first_stage = np.full(len(sentences), 0.1)
    first_stage[answer_at] = 0.9
    first_stage[[i for i in range(len(bounds)) if groups[i] != groups[answer_at]][:8]] = 0.5
    full, _ = Reader(stop_score=1.0, floor_score=0.0).rescore(
        EXAMPLES[0][1], sentences, starts, groups, first_stage
    )
    assert full[answer_at] == full.max()
    # Two sessions may differ in a score's last bits: stop just below it, then just above.
    alone, _ = Reader(stop_score=full[answer_at] - 1e-6).rescore(
        EXAMPLES[0][1], sentences, starts, groups, first_stage
    )
    passage = [answer_at]  # its passage's other sentences are not among the best
    others = [i for i in range(len(bounds)) if i not in passage]
    # Only the answer's passage was read: its scores are the full reading's, the rest below.
    assert np.allclose(alone[passage], full[passage])
    assert alone[others].max() < alone[passage].min()
    assert not np.allclose(alone[others], full[others])
    # Just above its best score, the other passages are read too.
    more, _ = Reader(stop_score=full[answer_at] + 1e-6).rescore(
        EXAMPLES[0][1], sentences, starts, groups, first_stage
    )
    assert np.allclose(more, full)
    # Below the floor (QA_READER_FLOOR), it is read alone too: nothing near an answer there.
    hopeless, _ = Reader(stop_score=1.0, floor_score=full[answer_at] + 1e-6).rescore(
        EXAMPLES[0][1], sentences, starts, groups, first_stage
    )
    assert np.allclose(hopeless, alone)
    # A timeline's question reads them all, however confident the first passage.
    every, _ = Reader(stop_score=full[answer_at] - 1e-6).rescore(
        EXAMPLES[0][1], sentences, starts, groups, first_stage, read_all=True
    )
    assert np.allclose(every, full)


def test_switch_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_READER", "off")
    assert not second_stage.enabled()


@shipped
def test_engine_threshold_is_the_reader_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from qa.select import min_answer_score, ranker

    assert second_stage.enabled()
    assert min_answer_score() == second_stage.reader().combiner.min_answer_score
    monkeypatch.setenv("QA_READER", "off")
    assert min_answer_score() == ranker().min_answer_score


def test_stop_table_counts_first_passage_stops_and_their_top1() -> None:
    from qa.ranker import Ranker
    from tools.train_reader import Reading, early_stop_table

    identity = Ranker(("x",), np.zeros(1), np.ones(1), ((np.ones((1, 1)), np.zeros(1)),), 0.0)
    two = Passage("A. B.", ((0, 2), (3, 5)))
    one = Passage("C.", ((0, 2),))
    items = [
        # Confident first passage (logit 3 -> 0.95), its best is right.
        Reading("q1", ["A"], [two, one], np.zeros(3), np.array([True, False, False])),
        # Unsure first passage (0.62); the answer is in the second one (0.73).
        Reading("q2", ["C"], [two, one], np.zeros(3), np.array([False, False, True])),
    ]
    x = np.array([[3.0], [-1.0], [-2.0], [0.5], [0.0], [1.0]])
    y = np.concatenate([item.labels for item in items])
    group = np.array([0, 0, 0, 1, 1, 1])
    # Asked without their article: a first passage below the floor (0.007), one at 0.5.
    unanswered = [Reading(q, [], [two, one], np.zeros(3), np.zeros(3, bool)) for q in "rs"]
    x_none = np.array([[-5.0], [-6.0], [0.0], [0.0], [-1.0], [0.0]])
    group_none = np.array([0, 0, 0, 1, 1, 1])
    rows = early_stop_table(
        identity, (x, y, group, items), (x_none, group_none, unanswered)
    ).splitlines()[1:]
    table = {float(r.split(" / ")[0]): [float(v) for v in r.split(" / ")[1:]] for r in rows}
    assert table[0.5] == [1.0, 1.0, 0.5, 1.0]  # all stop; q2 then misses its answer
    assert table[0.7] == [0.5, 1.5, 1.0, 1.5]  # q1 and r stop, q2 and s read on
    assert table[1.0] == [0.0, 2.0, 1.0, 1.5]  # r stops: nothing near an answer


def test_the_combination_is_fitted_to_put_the_right_sentence_first() -> None:
    """Each question's right sentence is the one with the best 2 x reader + first stage, while
    reader scores shift from question to question, which misleads a logistic fit alone (top-1
    0.54 on these)."""
    from tools.train_ranker import Dataset, top_choices
    from tools.train_reader import fit_combination

    rng = np.random.default_rng(0)
    questions, per_question = 300, 4
    x = rng.normal(size=(questions * per_question, 2)) + np.repeat(
        rng.normal(scale=[3.0, 0.0], size=(questions, 2)), per_question, axis=0
    )
    group = np.repeat(np.arange(questions), per_question)
    best = (x @ np.array([2.0, 1.0])).reshape(questions, per_question).argmax(axis=1)
    y = np.zeros(len(x), dtype=bool)
    y[np.arange(questions) * per_question + best] = True
    combiner = fit_combination(x, y, group)
    assert top_choices(combiner, Dataset(x, y, group))[1].mean() > 0.97
    # Scaled to probabilities: on average as often right as the labels say.
    assert abs(combiner.score(x).mean() - y.mean()) < 0.02


@shipped
def test_a_passage_scores_the_same_whatever_it_is_read_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reader = SpanReader()
    (article, question, answer), (other_article, _, other_answer) = EXAMPLES
    passage = _passage_around(article, answer)
    longer = _passage_around(other_article, other_answer, before=4, after=4)
    (alone,) = reader.read(question, [passage])
    # Read at once on threads of their own (QA_READER_PARALLEL), or one after the other.
    for parallel in (2, 1):
        monkeypatch.setattr(second_stage, "PARALLEL_READS", parallel)
        _, together = reader.read(question, [longer, passage])
        assert [r.score for r in together] == [r.score for r in alone]
        assert [r.span for r in together] == [r.span for r in alone]
