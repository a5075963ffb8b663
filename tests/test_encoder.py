"""The fast encoder (int8 ONNX) against the reference (sentence-transformers on PyTorch)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index.chunking import split_sentences
from index.embedder import Embedder
from index.onnx_export import ONNX_FILE, ensure_onnx, onnx_path
from qa.engine import Engine
from qa.retrieve import hybrid_search

ROOT = Path(__file__).resolve().parent.parent
ARTICLES = ROOT / "data" / "articles"
DEV = ROOT / "tests" / "fixtures" / "dev.jsonl"


@pytest.fixture(scope="module")
def torch_embedder() -> Embedder:
    return Embedder(backend="torch")


@pytest.fixture(scope="module")
def onnx_embedder() -> Embedder:
    return Embedder(backend="onnx")


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    texts: list[str] = []
    for path in sorted(ARTICLES.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        texts.extend(text[start:end] for start, end in split_sentences(text))
    assert len(texts) > 80
    return texts


def questions() -> list[str]:
    return [json.loads(line)["question"] for line in DEV.read_text().splitlines() if line.strip()]


def test_a_question_runs_on_one_thread_with_the_same_vectors(
    sample_index: Path, sentences: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Answering encodes one question per run on QA_QUERY_THREADS (1) threads; ingest's batches
    on QA_ENCODER_THREADS. The thread count must not change a vector."""
    engine = Engine(sample_index)
    assert engine.embedder._encoder._session.get_session_options().intra_op_num_threads == 1
    monkeypatch.setenv("QA_ENCODER_THREADS", "2")
    batch = Embedder(backend="onnx")
    assert batch._encoder._session.get_session_options().intra_op_num_threads == 2
    for text in sentences[:20]:
        assert np.array_equal(engine.embedder.encode([text]), batch.encode([text]))
    assert np.array_equal(engine.embedder.encode(sentences), batch.encode(sentences))
    monkeypatch.setenv("QA_QUERY_THREADS", "2")
    assert (
        Engine(sample_index).embedder._encoder._session.get_session_options().intra_op_num_threads
        == 2
    )


def test_onnx_vectors_match_torch_on_real_sentences(
    torch_embedder: Embedder, onnx_embedder: Embedder, sentences: list[str]
) -> None:
    reference = torch_embedder.encode(sentences)
    fast = onnx_embedder.encode(sentences)
    assert fast.shape == reference.shape and fast.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-4)
    cosine = (fast * reference).sum(axis=1)
    assert cosine.mean() >= 0.98
    assert np.percentile(cosine, 5) >= 0.97
    assert cosine.min() >= 0.9


def test_onnx_keeps_the_nearest_sentence_of_each_question(
    torch_embedder: Embedder, onnx_embedder: Embedder, sentences: list[str]
) -> None:
    asked = questions()
    ref_best = (torch_embedder.encode(asked) @ torch_embedder.encode(sentences).T).argmax(axis=1)
    fast_best = (onnx_embedder.encode(asked) @ onnx_embedder.encode(sentences).T).argmax(axis=1)
    agreement = float(np.mean(ref_best == fast_best))
    assert agreement >= 0.9, agreement


def test_onnx_gives_the_same_top_passages_and_answers_on_the_sample_index(
    sample_index: Path, torch_embedder: Embedder, onnx_embedder: Embedder
) -> None:
    reference, fast = Engine(sample_index, torch_embedder), Engine(sample_index, onnx_embedder)
    snapshot = reference.snapshot
    same_answers = 0
    for question in questions():
        ref_hits = hybrid_search(snapshot, torch_embedder.encode([question])[0], question)
        fast_hits = hybrid_search(snapshot, onnx_embedder.encode([question])[0], question)
        assert ref_hits[0].position == fast_hits[0].position, question
        ref_answer, fast_answer = reference.ask(question).answer, fast.ask(question).answer
        same_answers += (ref_answer is None and fast_answer is None) or (
            ref_answer is not None
            and fast_answer is not None
            and (ref_answer.doc_id, ref_answer.char_start)
            == (fast_answer.doc_id, fast_answer.char_start)
        )
    assert same_answers >= len(questions()) - 1


def test_batching_barely_moves_a_vector(onnx_embedder: Embedder, sentences: list[str]) -> None:
    """Padding is masked out; only int8's per-batch activation scale lets companions matter.

    Dynamic quantization picks one activation scale per batch, so a sentence encoded in a batch
    (as ingest does) and alone (as a question is) differ slightly: mean cosine 0.99+ measured
    on an Intel Xeon with VNNI, 0.989 on an AVX2-only AMD EPYC; a padding leak would cost far more.
    """
    batched = onnx_embedder.encode(sentences)
    alone = np.stack([onnx_embedder.encode([text])[0] for text in sentences])
    cosine = (batched * alone).sum(axis=1)
    assert cosine.mean() >= 0.985 and cosine.min() >= 0.96, (cosine.mean(), cosine.min())


def test_long_text_is_truncated_not_rejected(
    onnx_embedder: Embedder, torch_embedder: Embedder, sentences: list[str]
) -> None:
    long_text = " ".join(sentences[:40])  # well over the model's 256 tokens
    fast, reference = onnx_embedder.encode([long_text])[0], torch_embedder.encode([long_text])[0]
    assert float(fast @ reference) > 0.97


def test_query_cache_returns_the_same_vector_read_only(onnx_embedder: Embedder) -> None:
    first = onnx_embedder.encode_query("Who launched the Progress cargo ship?")
    again = onnx_embedder.encode_query("Who launched the Progress cargo ship?")
    assert again is first and not first.flags.writeable
    fresh = onnx_embedder.encode(["Who launched the Progress cargo ship?"])[0]
    np.testing.assert_allclose(first, fresh, atol=1e-6)
    other = onnx_embedder.encode_query("Where is Baikonur?")
    assert float(other @ first) < 0.99


def test_unknown_backend_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_ENCODER", "tensorflow")
    with pytest.raises(SystemExit, match="QA_ENCODER"):
        Embedder()


def test_export_is_built_on_demand_from_the_bundled_weights(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    onnx_embedder: Embedder,
    sentences: list[str],
) -> None:
    monkeypatch.setenv("QA_ONNX_DIR", str(tmp_path))
    target = onnx_path(onnx_embedder.model_path)
    assert not target.exists()
    assert ensure_onnx(onnx_embedder.model_path) == target and target.name == ONNX_FILE
    assert [p.name for p in target.parent.iterdir()] == [ONNX_FILE]  # no temporary left over
    rebuilt = Embedder(onnx_embedder.model_path, backend="onnx")
    np.testing.assert_allclose(
        rebuilt.encode(sentences[:20]), onnx_embedder.encode(sentences[:20]), atol=1e-5
    )


def test_serving_path_does_not_import_torch(onnx_embedder: Embedder) -> None:
    """Cold start: importing the API and loading the ONNX encoder must leave torch unloaded."""
    code = (
        "import sys; import api.app, qa.cli, qa.engine; from index.embedder import Embedder; "
        "Embedder(backend='onnx'); print(sorted(m for m in ('torch', 'sentence_transformers') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr
