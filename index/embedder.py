"""Sentence embeddings from the bundled all-MiniLM-L6-v2 (unit vectors: inner product = cosine)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from index import config


class Embedder:
    """Loads the model once; `encode` returns float32 unit vectors, one row per text."""

    def __init__(self, model_path: str | None = None) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()

        self.model_path = model_path or config.model_path()
        self._model = SentenceTransformer(self.model_path, device="cpu")
        self.dim = int(self._model.get_embedding_dimension() or 0)
        self.name = config.model_name(self.model_path)

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
