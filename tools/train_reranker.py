"""`make train` (second step): fine-tunes the cross-encoder and fits how it joins the first stage.

Training articles only (tools/squad_eval.py never evaluates on them), in the same two halves as
tools/train_ranker.py. Half A trains the cross-encoder: for each question, the first stage's
TOP_N candidates of its own index (a positive holds a gold answer; the others are the hard
negatives the pipeline really retrieves) plus one random sentence of another question. Half B,
which the cross-encoder never saw, fits the combination of its logit with the first stage's
score and the abstain threshold: its questions asked of its own index, and some asked of half A's
index, where their article is missing. Seeded; writes qa/reranker.onnx and qa/reranker.json.
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from index import config
from index.embedder import Embedder
from index.store import IndexSnapshot
from qa.evaluate import GoldQuestion, answer_correct
from qa.ranker import Ranker
from qa.reranker import (
    COMBINED,
    MODEL_FILE,
    TOP_N,
    WEIGHTS_FILE,
    CrossEncoder,
    encode_pairs,
    first_stage_logit,
    tokenizer,
)
from qa.retrieve import hybrid_search
from qa.select import PASSAGES_FOR_SENTENCES, candidates, ranker
from tools.squad_eval import (
    CACHE,
    fetch_squad,
    half_index,
    load_squad,
    split_articles,
    train_halves,
)
from tools.train_ranker import Dataset, choose_threshold, top_choices

SEED = 20240603
TORCH_COPY = CACHE / "reranker-torch"
# Caps that keep the fine-tuning near 15 minutes on a busy 2-core machine.
TRAIN_QUESTIONS = 1200
MAX_PAIRS = config.env_int("QA_RERANKER_PAIRS", 12_000)
COMBINE_QUESTIONS = 600
UNANSWERABLE = 400
BATCH = 16
LEARNING_RATE = 5e-5
HEAD_LEARNING_RATE = 1e-3


@dataclass
class Shortlist:
    """One question's TOP_N first-stage candidates: texts, first-stage scores, gold labels."""

    question: str
    texts: list[str]
    scores: np.ndarray
    labels: np.ndarray


def shortlists(index: Path, questions: Sequence[GoldQuestion], label: str) -> list[Shortlist]:
    """What the cross-encoder reads for each question at run time."""
    snapshot = IndexSnapshot(index)
    vectors = Embedder().encode([q.question for q in questions])
    found_lists = []
    for gold, vector in tqdm(
        list(zip(questions, vectors, strict=True)), desc=label, unit="q", mininterval=10
    ):
        hits = hybrid_search(snapshot, vector, gold.question)
        docs = {snapshot.chunk_doc[h.position] for h in hits[:PASSAGES_FOR_SENTENCES]}
        texts = {d: row.text for d, row in snapshot.documents(docs).items()}
        found = candidates(snapshot, gold.question, vector, hits, texts)
        if not found.rows:
            continue
        scores = ranker().score(found.features)
        top = np.argsort(-scores, kind="stable")[:TOP_N]
        chosen = [found.texts[i] for i in top]
        found_lists.append(
            Shortlist(
                gold.question,
                chosen,
                scores[top],
                np.array([answer_correct(t, gold.answers) for t in chosen], dtype=bool),
            )
        )
    snapshot.close()
    return found_lists


def training_pairs(lists: Sequence[Shortlist], rng: random.Random) -> list[tuple[str, str, float]]:
    """Positives, hard negatives and one random negative per question, capped at MAX_PAIRS."""
    pairs: list[tuple[str, str, float]] = []
    for item in lists:
        if not item.labels.any():
            continue
        pairs.extend(
            (item.question, t, float(y)) for t, y in zip(item.texts, item.labels, strict=True)
        )
        other = lists[rng.randrange(len(lists))]
        if other is not item:
            pairs.append((item.question, rng.choice(other.texts), 0.0))
    rng.shuffle(pairs)
    return pairs[:MAX_PAIRS]


def fine_tune(pairs: Sequence[tuple[str, str, float]]) -> object:
    """One epoch of binary cross-entropy on the bundled MiniLM with a fresh one-logit head."""
    import torch
    from transformers import AutoModelForSequenceClassification, get_linear_schedule_with_warmup

    torch.manual_seed(SEED)
    torch.set_num_threads(os.cpu_count() or 1)
    model = AutoModelForSequenceClassification.from_pretrained(
        config.model_path(), num_labels=1, attn_implementation="eager"
    )
    # The word embeddings stay as they are: a third of the weights, and the slowest to update.
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    model.train()
    # The fresh head (and the pooler feeding it) learns fast; the body only nudged, so a short
    # run cannot collapse it to predicting the base rate (it did at one rate for all).
    head = [p for n, p in model.named_parameters() if n.startswith(("classifier", "bert.pooler"))]
    body = [
        p
        for n, p in model.named_parameters()
        if p.requires_grad and not n.startswith(("classifier", "bert.pooler"))
    ]
    optimizer = torch.optim.AdamW(
        [{"params": head, "lr": HEAD_LEARNING_RATE}, {"params": body, "lr": LEARNING_RATE}],
        weight_decay=0.01,
    )
    steps = (len(pairs) + BATCH - 1) // BATCH
    schedule = get_linear_schedule_with_warmup(optimizer, steps // 10, steps)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    tok = tokenizer()
    for start in tqdm(range(0, len(pairs), BATCH), desc="fine-tune", unit="batch", mininterval=10):
        batch = pairs[start : start + BATCH]
        inputs = {
            k: torch.from_numpy(v)
            for k, v in encode_pairs(tok, [(q, s) for q, s, _ in batch]).items()
        }
        logits = model(**inputs).logits.reshape(-1)
        loss = loss_fn(logits, torch.tensor([y for _, _, y in batch]))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
    return model.eval()


def export(model: object, target: Path) -> None:
    """ONNX (opset 17), then int8 weights for MatMul and the embedding Gather (< 30 MB)."""
    from index.onnx_export import quantized_export

    quantized_export(model, target, "logits", {0: "batch"}, ["MatMul", "Gather"])


def combination_data(encoder: CrossEncoder, lists: Sequence[Shortlist]) -> tuple[np.ndarray, ...]:
    """[cross-encoder logit, first-stage logit] per candidate, its label and question number."""
    features, labels, group = [], [], []
    for number, item in enumerate(tqdm(lists, desc="cross-encode", unit="q", mininterval=10)):
        logits = encoder.logits(item.question, item.texts)
        features.append(np.column_stack([logits, first_stage_logit(item.scores)]))
        labels.append(item.labels)
        group.append(np.full(len(item.texts), number))
    return np.concatenate(features), np.concatenate(labels), np.concatenate(group)


def fit_combination(features: np.ndarray, labels: np.ndarray) -> Ranker:
    from sklearn.linear_model import LogisticRegression

    mean = features.mean(axis=0)
    scale = np.maximum(features.std(axis=0), 1e-6)
    model = LogisticRegression(max_iter=2000).fit((features - mean) / scale, labels)
    return Ranker(COMBINED, mean, scale, ((model.coef_.T, model.intercept_),), 0.0)


def main() -> None:
    rng = random.Random(SEED)
    train, _ = split_articles(load_squad(fetch_squad()))
    half_a, half_b = train_halves(train)
    index_a, index_b = half_index("train-a", half_a), half_index("train-b", half_b)
    started = time.perf_counter()
    questions_a = [q for a in half_a for q in a.questions]
    lists_a = shortlists(
        index_a, rng.sample(questions_a, min(TRAIN_QUESTIONS, len(questions_a))), "half A"
    )
    pairs = training_pairs(lists_a, rng)
    print(f"{len(pairs)} pairs ({sum(y for *_, y in pairs):.0f} positive)", file=sys.stderr)
    tuned = time.perf_counter()
    model = fine_tune(pairs)
    tuned = time.perf_counter() - tuned
    model.save_pretrained(TORCH_COPY)  # type: ignore[attr-defined]
    export(model, MODEL_FILE)

    questions_b = [q for a in half_b for q in a.questions]
    answerable = shortlists(
        index_b, rng.sample(questions_b, min(COMBINE_QUESTIONS, len(questions_b))), "half B"
    )
    removed = shortlists(
        index_a, rng.sample(questions_b, min(UNANSWERABLE, len(questions_b))), "half B removed"
    )
    encoder = CrossEncoder(MODEL_FILE)
    x, y, group = combination_data(encoder, answerable)
    x_none, y_none, group_none = combination_data(encoder, removed)
    # The combination is fitted and its threshold chosen on half B by two-fold cross-fitting.
    folds = group % 2
    held_scores, held_right, held_none = [], [], []
    for fold in (0, 1):
        model_fold = fit_combination(x[folds != fold], y[folds != fold])
        keep = folds == fold
        held = top_choices(model_fold, Dataset(x[keep], y[keep], group[keep] // 2))
        held_scores.append(held[0])
        held_right.append(held[1])
        none_keep = group_none % 2 == fold
        held_none.append(
            top_choices(
                model_fold,
                Dataset(x_none[none_keep], y_none[none_keep], group_none[none_keep] // 2),
            )[0]
        )
    scores, right = np.concatenate(held_scores), np.concatenate(held_right)
    finite = np.isfinite(scores)
    none_scores = np.concatenate(held_none)
    none_scores = none_scores[np.isfinite(none_scores)]
    threshold = choose_threshold((scores[finite], right[finite]), none_scores)
    final = fit_combination(x, y)
    final = Ranker(final.features, final.mean, final.scale, final.layers, threshold)
    first_stage_right = np.array([item.labels[0] for item in answerable])
    summary = {
        "seed": SEED,
        "pairs": len(pairs),
        "top_n": TOP_N,
        "fine_tune_seconds": round(tuned),
        "total_seconds": round(time.perf_counter() - started),
        "half_b_first_stage_top1": round(float(first_stage_right.mean()), 4),
        "half_b_reranked_top1": round(float(right[finite].mean()), 4),
        "half_b_answer@1_at_threshold": round(
            float((right[finite] & (scores[finite] >= threshold)).mean()), 4
        ),
        "half_b_unanswerable_abstained": round(float((none_scores < threshold).mean()), 4),
    }
    WEIGHTS_FILE.write_text(final.to_json(summary) + "\n", encoding="utf-8")
    print({**summary, "min_answer_score": threshold}, file=sys.stderr)
    print(f"wrote {MODEL_FILE} ({MODEL_FILE.stat().st_size / 1e6:.1f} MB) and {WEIGHTS_FILE}")


if __name__ == "__main__":
    main()
