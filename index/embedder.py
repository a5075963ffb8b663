"""Sentence embeddings from the bundled all-MiniLM-L6-v2 (unit vectors: inner product = cosine).

Two backends compute the same function: `onnx` (default; int8 onnxruntime, ~1.7x faster, loads
in a quarter second and never imports torch) and `torch` (sentence-transformers, the reference
the tests check the fast path against). `QA_ENCODER` picks one.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from threading import Lock
from typing import TYPE_CHECKING, Any

import numpy as np

from index import config

if TYPE_CHECKING:
    import onnxruntime

BACKENDS = ("onnx", "torch")
_MAX_TOKENS = 256  # the model's max_seq_length; longer texts are truncated, as in training


def backend_name() -> str:
    """`QA_ENCODER`: onnx (default) or torch; anything else is an error that says so."""
    name = os.environ.get("QA_ENCODER", "onnx").strip().lower() or "onnx"
    if name not in BACKENDS:
        raise SystemExit(f"QA_ENCODER={name!r} is not one of {', '.join(BACKENDS)}")
    return name


class Embedder:
    """Loads the model once; `encode` returns float32 unit vectors, one row per text."""

    def __init__(
        self, model_path: str | None = None, backend: str | None = None, threads: int | None = None
    ) -> None:
        """`threads`: of one ONNX run (default QA_ENCODER_THREADS, for batches)."""
        self.model_path = model_path or config.model_path()
        self.backend = backend or backend_name()
        self._encoder = (
            _OnnxEncoder(self.model_path, threads)
            if self.backend == "onnx"
            else (_TorchEncoder(self.model_path))
        )
        self.dim = self._encoder.dim
        self.name = config.model_name(self.model_path)
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._queries_lock = Lock()
        self._query_cache_size = config.env_int("QA_QUERY_CACHE", 4096)

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._encoder.encode(list(texts), batch_size)

    def encode_query(self, text: str) -> np.ndarray:
        """One question's vector; repeated questions (popular ones, retries) skip the model."""
        with self._queries_lock:
            cached = self._queries.get(text)
            if cached is not None:
                self._queries.move_to_end(text)
                return cached
        vector = self.encode([text])[0]
        vector.setflags(write=False)
        if self._query_cache_size > 0:
            with self._queries_lock:
                self._queries[text] = vector
                while len(self._queries) > self._query_cache_size:
                    self._queries.popitem(last=False)
        return vector


class _TorchEncoder:
    """sentence-transformers on PyTorch: the reference implementation."""

    def __init__(self, model_path: str) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        self._model = SentenceTransformer(model_path, device="cpu")
        self.dim = int(self._model.get_embedding_dimension() or 0)

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        vectors = self._model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


# onnxruntime's fused residual-add + LayerNorm kernel (SkipLayerNormalization) ran slower than
# the two ops it replaces: 18% of a reader run in its profile; without the fusion one question's
# encoding took 1.47 instead of 1.75 ms, a reader run over 80 tokens 4.2-4.4 instead of 5.3-5.6
# ms, a batch of 64 x 128 tokens on 2 threads 359 instead of 410 ms (Intel Xeon, 2026-12-04).
UNFUSED = ["SkipLayerNormFusion"]


def query_threads() -> int:
    """QA_QUERY_THREADS: threads of one run for one question. One: a question's run is too small
    to split (2 threads were no faster and took 40-70% more CPU), so concurrent questions use
    the other cores instead."""
    return config.env_int("QA_QUERY_THREADS", 1)


def cpu_session(model: Path, threads: int | None = None) -> onnxruntime.InferenceSession:
    """An onnxruntime CPU session on `threads` (default QA_ENCODER_THREADS) threads whose idle
    workers sleep instead of spinning: with concurrent questions (or other processes) on 2
    cores, spinning burnt CPU the other requests needed. Measured on `qa serve`: p95 at
    concurrency 1 27 -> 13 ms, q/s at 8 107 -> 125 (docs/benchmarks.md)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or config.env_int(
        "QA_ENCODER_THREADS", os.cpu_count() or 1
    )
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(
        str(model),
        options,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=UNFUSED,
    )


class _OnnxEncoder:
    """The int8 export run by onnxruntime; mean pooling and L2 normalising done here."""

    def __init__(self, model_path: str, threads: int | None = None) -> None:
        from tokenizers import Tokenizer

        from index.onnx_export import ensure_onnx

        self._session = cpu_session(ensure_onnx(model_path), threads)
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(Path(model_path) / "tokenizer.json"))
        # The shipped tokenizer.json pads every input to 128; pad to the batch's longest instead.
        self._tokenizer.enable_truncation(max_length=_MAX_TOKENS)
        self._tokenizer.enable_padding()
        self._tokenizer_lock = Lock()  # padding state is per tokenizer, not per call
        shape = self._session.get_outputs()[0].shape
        self.dim = int(shape[-1]) if isinstance(shape[-1], int) else 384

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        # Similar lengths in a batch waste less work on padding.
        order = np.argsort([len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for first in range(0, len(texts), batch_size):
            rows = order[first : first + batch_size]
            out[rows] = self._batch([texts[i] for i in rows])
        return out

    def _batch(self, texts: list[str]) -> np.ndarray:
        with self._tokenizer_lock:
            encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        states = self._session.run(None, feeds)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (states * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
