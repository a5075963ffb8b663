"""Second stage: a cross-encoder rescoring the first stage's best candidate sentences.

The first-stage ranker (qa/ranker.py) sees hand-made features of a sentence; the cross-encoder
reads the question and the sentence together, so it catches answers the features miss. It is
the bundled MiniLM fine-tuned by tools/train_reranker.py on training articles only, shipped as an
int8 ONNX file run by onnxruntime (no torch at run time). Its logit and the first stage's score
are combined by a tiny logistic model (qa/reranker.json) that also holds the abstain threshold.
`QA_RERANKER=off`, or a missing model file, keeps the first stage alone.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from index import config
from qa.ranker import Ranker, load_ranker

MODEL_FILE = Path(__file__).with_name("reranker.onnx")
WEIGHTS_FILE = Path(__file__).with_name("reranker.json")
# How many of the first stage's best sentences the cross-encoder reads.
TOP_N = 10
MAX_TOKENS = 128
COMBINED = ("cross_encoder", "first_stage")


def tokenizer() -> Tokenizer:
    """The bundled model's own tokenizer, padded to the longest pair (not its fixed 128)."""
    loaded = Tokenizer.from_file(str(Path(config.model_path()) / "tokenizer.json"))
    loaded.enable_truncation(MAX_TOKENS)
    loaded.enable_padding()
    return loaded


def encode_pairs(tok: Tokenizer, pairs: list[tuple[str, str]]) -> dict[str, np.ndarray]:
    """(question, sentence) pairs as the int64 arrays both the ONNX file and torch take."""
    encodings = tok.encode_batch(pairs)
    return {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }


def first_stage_logit(scores: np.ndarray) -> np.ndarray:
    """The first stage's probability back on the logit scale the combination is linear in."""
    clipped = np.clip(np.asarray(scores, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(clipped / (1 - clipped))


class CrossEncoder:
    """The int8 ONNX cross-encoder: one relevance logit per (question, sentence) pair."""

    def __init__(self, model: Path = MODEL_FILE) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = config.env_int("QA_ENCODER_THREADS", os.cpu_count() or 1)
        self._session = onnxruntime.InferenceSession(
            str(model), options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = tokenizer()

    def logits(self, question: str, sentences: list[str]) -> np.ndarray:
        if not sentences:
            return np.zeros(0)
        inputs = encode_pairs(self._tokenizer, [(question, s) for s in sentences])
        (out,) = self._session.run(["logits"], inputs)
        return np.asarray(out, dtype=np.float64).reshape(-1)


class Reranker:
    """The cross-encoder plus its learned combination with the first stage."""

    def __init__(self, model: Path = MODEL_FILE, weights: Path = WEIGHTS_FILE) -> None:
        self.encoder = CrossEncoder(model)
        self.combiner: Ranker = load_ranker(weights, features=COMBINED)

    def rescore(self, question: str, sentences: list[str], first_stage: np.ndarray) -> np.ndarray:
        """Combined scores for the first stage's TOP_N; the rest stay below all of them."""
        top = np.argsort(-first_stage, kind="stable")[:TOP_N]
        logits = self.encoder.logits(question, [sentences[i] for i in top])
        combined = self.combiner.score(
            np.column_stack([logits, first_stage_logit(first_stage[top])])
        )
        scores = np.minimum(first_stage, np.nextafter(combined.min(initial=1.0), -np.inf))
        scores[top] = combined
        return scores


def enabled() -> bool:
    """On when the model and its weights are shipped, unless QA_RERANKER=off."""
    if os.environ.get("QA_RERANKER", "on").strip().lower() in ("off", "0", "false", "no"):
        return False
    return MODEL_FILE.is_file() and WEIGHTS_FILE.is_file()


def min_answer_score() -> float:
    """The abstain threshold on combined scores, read without loading the model."""
    return load_ranker(WEIGHTS_FILE, features=COMBINED).min_answer_score


@lru_cache(maxsize=1)
def reranker() -> Reranker:
    return Reranker()
