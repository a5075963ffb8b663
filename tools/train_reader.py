"""`make train` (second step): fine-tunes the span reader and fits how it joins the first stage.

Training articles only (tools/squad_eval.py never evaluates on them), in the same two halves as
tools/train_ranker.py. Half A fine-tunes the reader: for each question, the passages of its own
index that hold the first stage's TUNE_SENTENCES best sentences, whole (at run time it reads
only the best sentences of them, qa.reader.plan_reading, which fine-tunes worse: see
TUNE_SENTENCES), the answer marked where a gold answer string occurs inside one sentence, "no
answer" ([CLS]) elsewhere.
The reader also learns from two SQuAD-format sets on other text (new Wikipedia articles, New York
Times articles; tools/squad_eval.py SHIFTS_MEMBERS), all their questions, each with the
chunk of its paragraph that holds the answer and (SHIFTED_NEGATIVE_SHARE of them: all, as
shipped) another chunk of its article as "no answer".
Half B, which the reader never saw, fits the combination of its sentence score with the first
stage's score and the abstain threshold: its questions asked of its own index, and some asked
of half A's index, where their article is missing, each read exactly as answering reads it
(the sentences of qa.select.PASSAGES_FOR_SENTENCES passages, qa.reader.plan_reading).
Seeded; writes qa/reader.onnx and qa/reader.json, then prints what reading only the first
passage when it is confident (QA_READER_STOP) saves and costs on half B; `--stop-table` prints
just that, for the shipped files, and `--combination` refits only qa/reader.json for the
shipped qa/reader.onnx.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from tokenizers import Encoding
from tqdm import tqdm

from index import config
from index.chunking import Chunk, DuplicateFilter, chunk_article
from index.embedder import Embedder
from index.store import IndexSnapshot
from qa.evaluate import GoldQuestion, answer_correct
from qa.ranker import Ranker, load_ranker
from qa.reader import (
    COMBINED,
    FLOOR_SCORE,
    MODEL_FILE,
    WEIGHTS_FILE,
    Passage,
    SpanReader,
    combination_features,
    encode,
    model_inputs,
    passage_tokens,
    passages_in,
    passages_to_read,
    plan_reading,
    reads_on,
    tokenizer,
)
from qa.retrieve import hybrid_search
from qa.select import PASSAGES_FOR_SENTENCES, candidates, ranker
from tools.squad_eval import (
    CACHE,
    NEW_WIKI,
    NYT,
    SquadArticle,
    fetch_shifts,
    fetch_squad,
    half_index,
    load_squad,
    split_articles,
    train_halves,
)
from tools.train_ranker import (
    TRAINING_PASSAGES,
    Dataset,
    choose_threshold,
    fit_listwise,
    top_choices,
)

SEED = 20240604
TORCH_COPY = CACHE / "reader-torch"
# What the reader learns from, measured on half B's reading top-1 (1,500 questions) and `make
# eval` (answer@1 at the threshold / with none, span F1). With dropout on, in the time budget
# only with a cap of 7,000 questions per extra set: SQuAD half A alone 0.769; plus 2,000 per
# extra set, 2 epochs, 0.777 (0.705 / 0.761, 0.766); 7,000 per set 0.779 (0.725 / 0.770, 0.785)
# and, with clauses and a stronger first stage, 0.8327 (0.759 / 0.787, 0.775; 31.9 min of
# `make train` on the Intel Xeon, 2026-12-04); 6,000 per set 0.8233 (0.742 / 0.784, 0.749); all
# of them 0.784 (0.730 / 0.772, 0.788) against 0.779 for 7,000, but ~1,830 s of fine-tuning;
# that with the embeddings and 2 lowest layers frozen (31% less time per batch) 0.771. Without
# dropout (DROPOUT), every question of both sets fits: 0.8400 (docs/benchmarks.md, 2026-12-04).
TRAIN_QUESTIONS = 4000
# Half A's passages: those holding the first stage's 10 best sentences (at most
# qa.reader.MAX_PASSAGES), whole, as the shipped reader was fine-tuned. Fine-tuned instead on
# what it reads at run time (its 6 best sentences grouped by passage, the rest left out), half B
# read top-1 was 0.778 and answer@1 at the threshold 0.743, against the then shipped 0.784 and
# 0.759 (AMD EPYC, float32: 3,971 s, 2026-12-03): whole passages teach more context. The reader
# before the shipped one was this recipe's, its passages chosen by the ranker (34,808; 4,134 s of
# fine-tuning in float32 on that AMD EPYC, 4,372 s for this step, 2026-12-04): half B read
# top-1 0.7953 and answer@1 at the threshold 0.778, against 0.8033 and 0.784 for the one it
# replaced (34,742 passages chosen by the ranker of before fit_listwise); `make eval`
# 0.745 / 0.771 against 0.736 / 0.767, dev 0.750 against 0.800 (one question).
TUNE_SENTENCES = 10
NEGATIVES_PER_QUESTION = 1
# Share of the extra sets' questions that also get a chunk of their article without the answer.
SHIFTED_NEGATIVE_SHARE = 1.0
COMBINE_QUESTIONS = 1500
UNANSWERABLE = 400
STOP_SCORES = (0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
BATCH = 16
EPOCHS = 1
# Batches are cut from runs of this many examples sorted by length (less padding to compute).
LENGTH_RUN = 64 * BATCH
LEARNING_RATE = 1e-4
# Attention and hidden dropout are off: on CPU, drawing their random masks took 59% of a
# forward pass (16 x 130 tokens, bfloat16), and a batch takes 0.45 instead of 0.69 s (0.55 with
# only attention dropout off). Attention dropout alone off, 7,000 questions per extra set: half
# B top-1 0.8240 against 0.8327 with it (24.0 against 31.9 min of `make train`). Both off, all
# questions (shipped: `make train` on the Intel Xeon, 23.3 min): 0.8400, answer@1 at the
# threshold 0.820 against 0.810, dev 0.900 against 0.800.
DROPOUT = 0.0
HEAD_LEARNING_RATE = 1e-3


@dataclass
class Reading:
    """What the reader reads for one question at run time, and the read sentences' labels."""

    question: str
    answers: list[str]
    passages: list[Passage]
    scores: np.ndarray  # first-stage scores of the read sentences, in passage order
    labels: np.ndarray  # the read sentence holds a gold answer


def readings(
    index: Path, questions: Sequence[GoldQuestion], label: str, whole: bool = False
) -> list[Reading]:
    """What the reader reads for each question (`whole`: the passages to fine-tune on)."""
    snapshot = IndexSnapshot(index)
    vectors = Embedder().encode([q.question for q in questions])
    found_list = []
    for gold, vector in tqdm(
        list(zip(questions, vectors, strict=True)), desc=label, unit="q", mininterval=10
    ):
        hits = hybrid_search(snapshot, vector, gold.question)
        hits = hits[: TRAINING_PASSAGES if whole else PASSAGES_FOR_SENTENCES]
        docs = {snapshot.chunk_doc[h.position] for h in hits}
        texts = {d: row.text for d, row in snapshot.documents(docs).items()}
        found = candidates(snapshot, gold.question, vector, hits, texts)
        if not found.rows:
            continue
        scores = ranker().score(found.features)
        starts, groups = [row[3] for row in found.rows], [row[1] for row in found.rows]
        if whole:
            plan = tuning_plan(groups, scores)
            passages = passages_in(plan, found.texts, starts)
        else:
            plan, passages = plan_reading(found.texts, starts, groups, scores)
        read = np.concatenate(plan)
        found_list.append(
            Reading(
                gold.question,
                gold.answers,
                passages,
                scores[read],
                np.array([answer_correct(found.texts[i], gold.answers) for i in read]),
            )
        )
    snapshot.close()
    return found_list


def tuning_plan(groups: Sequence[int], scores: np.ndarray) -> list[np.ndarray]:
    """Candidate indices per passage to fine-tune on: the passages holding the first stage's
    TUNE_SENTENCES best sentences, whole, the best sentence's passage first."""
    return [
        np.flatnonzero(np.asarray(groups) == groups[members[0]])
        for members in passages_to_read(groups, scores, TUNE_SENTENCES)
    ]


def answer_span(passage: Passage, answers: Sequence[str]) -> tuple[int, int] | None:
    """The first occurrence of a gold answer that lies inside one sentence of the passage."""
    for answer in answers:
        at = passage.text.find(answer)
        while at >= 0:
            if any(a <= at and at + len(answer) <= b for a, b in passage.sentences):
                return at, at + len(answer)
            at = passage.text.find(answer, at + 1)
    return None


Example = tuple[str, str, tuple[int, int] | None]


def training_examples(items: Sequence[Reading], rng: random.Random) -> list[Example]:
    """Every passage holding an answer, and NEGATIVES_PER_QUESTION passages without one."""
    examples: list[Example] = []
    for item in items:
        spans = [answer_span(p, item.answers) for p in item.passages]
        if not any(spans):
            continue
        examples.extend(
            (item.question, p.text, s) for p, s in zip(item.passages, spans, strict=True) if s
        )
        empty = [p for p, s in zip(item.passages, spans, strict=True) if s is None]
        for passage in rng.sample(empty, min(NEGATIVES_PER_QUESTION, len(empty))):
            examples.append((item.question, passage.text, None))
    rng.shuffle(examples)
    return examples


def shifted_examples(name: str, rng: random.Random, held_out: set[str]) -> list[Example]:
    """Every question of a SQuAD-shifts set, each with the chunk of its paragraph that holds
    the answer (at its gold offset, inside one sentence) and, for SHIFTED_NEGATIVE_SHARE of
    them, NEGATIVES_PER_QUESTION chunks of its article without an answer, chunked as `qa ingest`
    chunks. Articles titled like a held-out evaluation article are skipped (none are, as
    shipped)."""
    data = json.loads(fetch_shifts(name).read_text(encoding="utf-8"))["data"]
    examples: list[Example] = []
    asked: list[tuple[list[tuple[int, str, Chunk]], int, str, dict]] = []
    for entry in (e for e in data if e["title"] not in held_out):
        chunks = [
            (number, paragraph["context"][c.start : c.end], c)
            for number, paragraph in enumerate(entry["paragraphs"])
            for c in chunk_article(paragraph["context"], 0, DuplicateFilter())
        ]
        for number, paragraph in enumerate(entry["paragraphs"]):
            asked.extend((chunks, number, paragraph["context"], qa) for qa in paragraph["qas"])
    for chunks, number, context, qa in rng.sample(asked, len(asked)):  # seeded draw order
        question, answer = " ".join(qa["question"].split()), qa["answers"][0]
        start, end = answer["answer_start"], answer["answer_start"] + len(answer["text"])
        holding = [
            (text, c)
            for n, text, c in chunks
            if n == number and any(s.start <= start and end <= s.end for s in c.sentences)
        ]
        if context[start:end] != answer["text"] or not holding:
            continue
        text, chunk = holding[0]
        examples.append((question, text, (start - chunk.start, end - chunk.start)))
        if rng.random() >= SHIFTED_NEGATIVE_SHARE:
            continue
        others = [t for _, t, _ in chunks if all(a["text"] not in t for a in qa["answers"])]
        negatives = rng.sample(others, min(NEGATIVES_PER_QUESTION, len(others)))
        examples.extend((question, other, None) for other in negatives)
    return examples


def length_batches(examples: Sequence[Example], rng: random.Random) -> list[list[Example]]:
    """Batches of examples of similar length, in random order."""
    batches: list[list[Example]] = []
    for first in range(0, len(examples), LENGTH_RUN):
        run = sorted(examples[first : first + LENGTH_RUN], key=lambda e: len(e[0]) + len(e[1]))
        batches.extend(run[i : i + BATCH] for i in range(0, len(run), BATCH))
    rng.shuffle(batches)
    return batches


def token_targets(encoding: Encoding, span: tuple[int, int] | None) -> tuple[int, int] | None:
    """(start, end) token positions of `span`, (0, 0) for no answer, None if it was cut off."""
    if span is None:
        return 0, 0
    positions = passage_tokens(encoding)
    inside = [p for p in positions if encoding.offsets[p][1] > span[0]]
    inside = [p for p in inside if encoding.offsets[p][0] < span[1]]
    if not inside or encoding.offsets[positions[-1]][1] < span[1]:
        return None
    return int(inside[0]), int(inside[-1])


def fine_tune(examples: Sequence[Example], rng: random.Random) -> object:
    """EPOCHS of start/end cross-entropy on the bundled MiniLM with a fresh span head, without
    dropout; in bfloat16 where the processor has AMX tiles for it (half the time on the Intel
    Xeon)."""
    import torch
    from transformers import AutoModelForQuestionAnswering, get_linear_schedule_with_warmup

    torch.manual_seed(SEED)
    torch.set_num_threads(os.cpu_count() or 1)
    model = AutoModelForQuestionAnswering.from_pretrained(
        config.model_path(),
        attn_implementation="eager",
        attention_probs_dropout_prob=DROPOUT,
        hidden_dropout_prob=DROPOUT,
    )
    # The word embeddings stay as they are: a third of the weights, and the slowest to update.
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    model.train()
    head = [p for n, p in model.named_parameters() if n.startswith("qa_outputs")]
    body = [
        p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("qa_outputs")
    ]
    optimizer = torch.optim.AdamW(
        [{"params": head, "lr": HEAD_LEARNING_RATE}, {"params": body, "lr": LEARNING_RATE}],
        weight_decay=0.01,
        fused=True,  # one kernel for all weights: 18 instead of 48 ms per step with clipping
    )
    batches = [b for _ in range(EPOCHS) for b in length_batches(examples, rng)]
    schedule = get_linear_schedule_with_warmup(optimizer, len(batches) // 10, len(batches))
    loss_fn = torch.nn.CrossEntropyLoss()
    tok = tokenizer()
    bfloat16 = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    for batch in tqdm(batches, desc="fine-tune", unit="batch", mininterval=10):
        encodings = encode(tok, [(q, text) for q, text, _ in batch])
        targets = [token_targets(e, span) for e, (_, _, span) in zip(encodings, batch, strict=True)]
        keep = [i for i, t in enumerate(targets) if t is not None]
        if not keep:
            continue
        inputs = {k: torch.from_numpy(v[keep]) for k, v in model_inputs(encodings).items()}
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
            out = model(**inputs)
        starts = torch.tensor([targets[i][0] for i in keep])  # type: ignore[index]
        ends = torch.tensor([targets[i][1] for i in keep])  # type: ignore[index]
        start_logits, end_logits = out.start_logits.float(), out.end_logits.float()
        loss = (loss_fn(start_logits, starts) + loss_fn(end_logits, ends)) / 2
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
    return model.eval()


def export(model: object, target: Path) -> None:
    """ONNX (opset 17) with start and end logits stacked as `span_logits` [batch, tokens, 2],
    then int8 weights for MatMul and the embedding Gather (< 30 MB)."""
    import torch

    from index.onnx_export import quantized_export

    class SpanLogits(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, **inputs: torch.Tensor) -> SimpleNamespace:
            out = self.inner(**inputs)
            return SimpleNamespace(
                span_logits=torch.stack([out.start_logits, out.end_logits], dim=-1)
            )

    quantized_export(
        SpanLogits(model),  # type: ignore[arg-type]
        target,
        "span_logits",
        {0: "batch", 1: "tokens"},
        ["MatMul", "Gather"],
    )


def combination_data(reader: SpanReader, items: Sequence[Reading]) -> tuple[np.ndarray, ...]:
    """[reader score, first-stage logit] per read sentence, its label and question number."""
    features, labels, group = [], [], []
    for number, item in enumerate(tqdm(items, desc="read", unit="q", mininterval=10)):
        found = [r for passage in reader.read(item.question, item.passages) for r in passage]
        features.append(combination_features(found, item.scores))
        labels.append(item.labels)
        group.append(np.full(len(found), number))
    return np.concatenate(features), np.concatenate(labels), np.concatenate(group)


def fit_combination(features: np.ndarray, labels: np.ndarray, group: np.ndarray) -> Ranker:
    """Fitted to rank (fit_listwise): a logistic fit alone weighed the reader less; on half B
    (cross-fitted) top-1 was 0.7893 and answer@1 at the threshold 0.7667, against 0.7960 and
    0.7740 so."""
    return fit_listwise(COMBINED, features, labels, group, 0.0)


def cross_fitted_threshold(
    x: np.ndarray, y: np.ndarray, group: np.ndarray, x_none: np.ndarray, group_none: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """The abstain threshold from scores of questions each fold's model did not see; also
    those held-out top scores, whether they were right, and the unanswerable top scores."""
    held_scores, held_right, held_none = [], [], []
    for fold in (0, 1):
        train = group % 2 != fold
        model = fit_combination(x[train], y[train], group[train])
        keep = group % 2 == fold
        scores, right = top_choices(model, Dataset(x[keep], y[keep], group[keep] // 2))[:2]
        held_scores.append(scores)
        held_right.append(right)
        none_keep = group_none % 2 == fold
        labels = np.zeros(int(none_keep.sum()), dtype=bool)
        held_none.append(
            top_choices(model, Dataset(x_none[none_keep], labels, group_none[none_keep] // 2))[0]
        )
    scores, right = np.concatenate(held_scores), np.concatenate(held_right)
    finite = np.isfinite(scores)
    none_scores = np.concatenate(held_none)
    none_scores = none_scores[np.isfinite(none_scores)]
    threshold = choose_threshold((scores[finite], right[finite]), none_scores)
    return threshold, scores[finite], right[finite], none_scores


def early_stop_table(
    combiner: Ranker,
    answerable: tuple[np.ndarray, np.ndarray, np.ndarray, Sequence[Reading]],
    removed: tuple[np.ndarray, np.ndarray, Sequence[Reading]],
) -> str:
    """Per QA_READER_STOP (with the shipped QA_READER_FLOOR), from `combination_data` of half B's
    questions: the share that read only their first passage, passages read per question, top-1
    (the best read sentence holds a gold answer), and passages read per question asked where its
    article is missing (`removed`)."""
    x, y, group, items = answerable
    scores, none_scores = combiner.score(x), combiner.score(removed[0])
    # Each question's rows, split once for all the stop scores.
    asked = [(scores[group == n], y[group == n], item) for n, item in enumerate(items)]
    unanswered = [(none_scores[removed[1] == n], item) for n, item in enumerate(removed[2])]
    lines = [
        f"QA_READER_STOP with QA_READER_FLOOR {FLOOR_SCORE}, {len(items)} questions: stop / first "
        f"passage only / passages / top-1 / passages for {len(removed[2])} without their article"
    ]
    for stop in STOP_SCORES:
        seen = [(stopped_reading(s, item, stop), labels) for s, labels, item in asked]
        right = np.mean([labels[np.argmax(s)] for (s, _), labels in seen])
        missing = [stopped_reading(s, item, stop)[1] for s, item in unanswered]
        seen_read = [read for (_, read), _ in seen]
        lines.append(
            f"{stop:.2f} / {np.mean([read == 1 for read in seen_read]):.3f}"
            f" / {np.mean(seen_read):.2f} / {right:.4f} / {np.mean(missing):.2f}"
        )
    return "\n".join(lines)


def stopped_reading(combined: np.ndarray, item: Reading, stop: float) -> tuple[np.ndarray, int]:
    """The combined scores answering weighs for one question at QA_READER_STOP `stop`, and how
    many passages it reads for them."""
    first = combined[: len(item.passages[0].sentences)]
    if reads_on(first.max(), stop):
        return combined, len(item.passages)
    return first, 1


def combination_questions(
    half_a: Sequence[SquadArticle], half_b: Sequence[SquadArticle]
) -> tuple[list[Reading], list[Reading]]:
    """Half B's questions as the combination sees them: asked of its own index (answerable) and
    of half A's (their article missing)."""
    index_a, index_b = half_index("train-a", half_a), half_index("train-b", half_b)
    questions_b = [q for a in half_b for q in a.questions]
    # Its own generator: the combination's questions stay the same whatever the reader learnt.
    combine_rng = random.Random(SEED + 1)
    answerable = readings(
        index_b, combine_rng.sample(questions_b, min(COMBINE_QUESTIONS, len(questions_b))), "half B"
    )
    removed = readings(
        index_a,
        combine_rng.sample(questions_b, min(UNANSWERABLE, len(questions_b))),
        "half B removed",
    )
    return answerable, removed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--stop-table",
        action="store_true",
        help="only print the QA_READER_STOP table for the shipped qa/reader.onnx and .json",
    )
    parser.add_argument(
        "--combination",
        action="store_true",
        help="keep the shipped qa/reader.onnx; refit only qa/reader.json (the combination and "
        "the abstain threshold), e.g. after a change to what the reader reads",
    )
    args = parser.parse_args()
    rng = random.Random(SEED)
    train, held_out = split_articles(load_squad(fetch_squad()))
    half_a, half_b = train_halves(train)
    if args.stop_table:
        answerable, removed = combination_questions(half_a, half_b)
        reader = SpanReader(MODEL_FILE)
        x, y, group = combination_data(reader, answerable)
        x_none, _, group_none = combination_data(reader, removed)
        combiner = load_ranker(WEIGHTS_FILE, COMBINED)
        print(early_stop_table(combiner, (x, y, group, answerable), (x_none, group_none, removed)))
        return
    if args.combination:
        shipped = json.loads(WEIGHTS_FILE.read_text(encoding="utf-8"))
        training = ("seed", "passages", "fine_tune_seconds", "total_seconds")
        write_combination(half_a, half_b, {k: shipped[k] for k in training}, None)
        return
    index_a = half_index("train-a", half_a)
    half_index("train-b", half_b)  # built (or found cached) before the clock starts, as half A's
    started = time.perf_counter()
    questions_a = [q for a in half_a for q in a.questions]
    items_a = readings(
        index_a,
        rng.sample(questions_a, min(TRAIN_QUESTIONS, len(questions_a))),
        "half A",
        whole=True,
    )
    examples = training_examples(items_a, rng)
    examples += [
        e
        for name in (NEW_WIKI, NYT)
        for e in shifted_examples(name, rng, {a.doc_id for a in held_out})
    ]
    rng.shuffle(examples)
    positives = sum(span is not None for *_, span in examples)
    print(f"{len(examples)} passages ({positives} with an answer)", file=sys.stderr)
    tuned = time.perf_counter()
    model = fine_tune(examples, rng)
    tuned = time.perf_counter() - tuned
    model.save_pretrained(TORCH_COPY)  # type: ignore[attr-defined]
    export(model, MODEL_FILE)
    print(f"wrote {MODEL_FILE} ({MODEL_FILE.stat().st_size / 1e6:.1f} MB)")

    summary = {
        "seed": SEED,
        "passages": len(examples),
        "fine_tune_seconds": round(tuned),
    }
    write_combination(half_a, half_b, summary, started)


def write_combination(
    half_a: Sequence[SquadArticle],
    half_b: Sequence[SquadArticle],
    summary: Mapping[str, object],
    started: float | None,
) -> None:
    """Fits how the shipped reader joins the first stage, and the abstain threshold, on half B
    (two-fold cross-fitting for the threshold); writes qa/reader.json with `summary` and half
    B's figures, then prints the QA_READER_STOP table. `started`: when training began, for
    total_seconds (None keeps the summary's)."""
    answerable, removed = combination_questions(half_a, half_b)
    reader = SpanReader(MODEL_FILE)
    x, y, group = combination_data(reader, answerable)
    x_none, _, group_none = combination_data(reader, removed)
    threshold, scores, right, none_scores = cross_fitted_threshold(x, y, group, x_none, group_none)
    final = fit_combination(x, y, group)
    final = Ranker(final.features, final.mean, final.scale, final.layers, threshold)
    first_stage_right = [bool(item.labels[np.argmax(item.scores)]) for item in answerable]
    summary = {
        **summary,
        **({"total_seconds": round(time.perf_counter() - started)} if started is not None else {}),
        "half_b_first_stage_top1": round(float(np.mean(first_stage_right)), 4),
        "half_b_read_top1": round(float(right.mean()), 4),
        "half_b_answer@1_at_threshold": round(float((right & (scores >= threshold)).mean()), 4),
        "half_b_unanswerable_abstained": round(float((none_scores < threshold).mean()), 4),
    }
    WEIGHTS_FILE.write_text(final.to_json(summary) + "\n", encoding="utf-8")
    print({**summary, "min_answer_score": threshold}, file=sys.stderr)
    print(f"wrote {WEIGHTS_FILE}")
    print(early_stop_table(final, (x, y, group, answerable), (x_none, group_none, removed)))


if __name__ == "__main__":
    main()
