"""The cross-encoder reranker: real sample-article sentences, and the ONNX file against torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.chunking import split_sentences
from qa import reranker as second_stage
from qa.reranker import MODEL_FILE, TOP_N, WEIGHTS_FILE, CrossEncoder, Reranker

ARTICLES = Path(__file__).resolve().parent.parent / "data" / "articles"

pytestmark = pytest.mark.skipif(
    not (MODEL_FILE.is_file() and WEIGHTS_FILE.is_file()),
    reason="qa/reranker.onnx is not built (make train)",
)

# (article, question, a phrase only the answering sentence holds)
EXAMPLES = [
    (
        "001_b23dfde50d28c48d.txt",
        "Which former astronaut condemned the Russian crew's gesture?",
        "Terry Virts condemned",
    ),
    (
        "003_140fda5b5716f268.txt",
        "What kind of bombers fired cruise missiles from Belarusian airspace?",
        "Tu-22M3",
    ),
]


def _sentences(article: str) -> list[str]:
    text = (ARTICLES / article).read_text(encoding="utf-8")
    return [text[start:end] for start, end in split_sentences(text)][:12]


@pytest.fixture(scope="module")
def encoder() -> CrossEncoder:
    return CrossEncoder()


@pytest.mark.parametrize(("article", "question", "phrase"), EXAMPLES)
def test_gold_sentence_outscores_distractors(
    encoder: CrossEncoder, article: str, question: str, phrase: str
) -> None:
    sentences = _sentences(article)
    gold = [i for i, s in enumerate(sentences) if phrase in s]
    assert len(gold) == 1
    logits = encoder.logits(question, sentences)
    assert int(np.argmax(logits)) == gold[0]


def test_onnx_agrees_with_the_torch_model(encoder: CrossEncoder) -> None:
    from tools.train_reranker import TORCH_COPY

    if not (TORCH_COPY / "config.json").is_file():
        pytest.skip(f"the torch model is not cached at {TORCH_COPY}")
    torch = pytest.importorskip("torch")
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(TORCH_COPY).eval()
    tok = second_stage.tokenizer()
    for article, question, _ in EXAMPLES:
        sentences = _sentences(article)
        inputs = second_stage.encode_pairs(tok, [(question, s) for s in sentences])
        with torch.no_grad():
            expected = model(**{k: torch.from_numpy(v) for k, v in inputs.items()}).logits
        expected = expected.numpy().reshape(-1)
        got = encoder.logits(question, sentences)
        assert np.corrcoef(got, expected)[0, 1] > 0.98
        assert int(np.argmax(got)) == int(np.argmax(expected))
        assert np.abs(got - expected).max() < 1.0


def test_rescore_keeps_the_rest_below_the_reranked() -> None:
    sentences = _sentences(EXAMPLES[0][0])
    first_stage = np.linspace(0.9, 0.1, len(sentences))
    scores = Reranker().rescore(EXAMPLES[0][1], sentences, first_stage)
    top = scores[:TOP_N]
    assert np.all((top > 0) & (top < 1))
    assert np.all(scores[TOP_N:] < top.min())


def test_switch_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert second_stage.enabled()
    monkeypatch.setenv("QA_RERANKER", "off")
    assert not second_stage.enabled()


def test_engine_threshold_is_the_reranker_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from qa.select import min_answer_score

    assert min_answer_score() == second_stage.reranker().combiner.min_answer_score
    monkeypatch.setenv("QA_RERANKER", "off")
    from qa.select import ranker

    assert min_answer_score() == ranker().min_answer_score
