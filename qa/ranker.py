"""The learned sentence ranker: a small model over `qa.select` features, shipped as JSON weights.

tools/train_ranker.py fits it (`make train`) on SQuAD articles that the evaluation never uses;
the file holds the feature names it was fitted on, so features and weights cannot drift apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

WEIGHTS_FILE = Path(__file__).with_name("ranker_weights.json")


@dataclass(frozen=True)
class Ranker:
    """Standardise, one hidden tanh layer (or none), logistic output: P(sentence answers)."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    min_answer_score: float

    def score(self, features: np.ndarray) -> np.ndarray:
        values = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale
        for weights, bias in self.layers[:-1]:
            values = np.tanh(values @ weights + bias)
        weights, bias = self.layers[-1]
        logits = values @ weights + bias
        return 1.0 / (1.0 + np.exp(-logits.reshape(-1)))

    def to_json(self, extra: dict[str, Any]) -> str:
        payload = {
            "features": list(self.features),
            "mean": self.mean.round(6).tolist(),
            "scale": self.scale.round(6).tolist(),
            "layers": [
                {"weights": w.round(6).tolist(), "bias": b.round(6).tolist()}
                for w, b in self.layers
            ],
            "min_answer_score": self.min_answer_score,
            **extra,
        }
        return json.dumps(payload, indent=1)


def load_ranker(path: Path = WEIGHTS_FILE, features: tuple[str, ...] | None = None) -> Ranker:
    """The shipped ranker; fails loudly when it was fitted on other features than `features`."""
    payload = json.loads(path.read_text(encoding="utf-8"))
    ranker = Ranker(
        features=tuple(payload["features"]),
        mean=np.array(payload["mean"], dtype=np.float64),
        scale=np.array(payload["scale"], dtype=np.float64),
        layers=tuple(
            (
                np.array(layer["weights"], dtype=np.float64),
                np.array(layer["bias"], dtype=np.float64),
            )
            for layer in payload["layers"]
        ),
        min_answer_score=float(payload["min_answer_score"]),
    )
    if features is not None and ranker.features != features:
        raise RuntimeError(f"{path} was trained on other features; run `make train`")
    return ranker
