"""The vector store on real MiniLM vectors of real news: HNSW against exact search, filters."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from index import vectors
from index.chunking import split_sentences
from index.embedder import Embedder
from index.vectors import build_vector_index, choose_index_type, load_vector_index
from tools.bench import news_wheel, read_news

DATABASE = 2000
QUERIES = 150


@pytest.fixture(scope="module")
def news_vectors(embedder: Embedder) -> tuple[np.ndarray, np.ndarray]:
    """Sentence vectors of real articles (the database) and of their titles (the queries)."""
    rows, _ = read_news(news_wheel())
    picked = random.Random(3).sample(rows, 400)
    sentences = [r.text[a:b] for r in picked for a, b in split_sentences(r.text[:1500])]
    titles = [r.title for r in picked if r.title][:QUERIES]
    assert len(sentences) >= DATABASE and len(titles) == QUERIES
    return embedder.encode(sentences[:DATABASE]), embedder.encode(titles)


def exact_top10(database: np.ndarray, queries: np.ndarray) -> np.ndarray:
    return np.argsort(-(queries @ database.T), axis=1, kind="stable")[:, :10]


def test_small_collections_are_searched_exactly(
    tmp_path: Path, news_vectors: tuple[np.ndarray, np.ndarray]
) -> None:
    database, queries = news_vectors
    assert choose_index_type(len(database)) == "IndexFlatIP"
    assert build_vector_index(database, tmp_path / "v.faiss") == "IndexFlatIP"
    store = load_vector_index(tmp_path / "v.faiss")
    scores, positions = store.search(queries, 10)
    truth = exact_top10(database, queries)
    assert (positions[:, 0] == truth[:, 0]).all()
    np.testing.assert_allclose(scores[:, 0], (queries @ database.T).max(axis=1), atol=1e-5)


def test_hnsw_recall_at_10_against_exact_search(
    tmp_path: Path, news_vectors: tuple[np.ndarray, np.ndarray]
) -> None:
    database, queries = news_vectors
    kind = build_vector_index(database, tmp_path / "v.faiss", index_type="IndexHNSWFlat")
    store = load_vector_index(tmp_path / "v.faiss")
    assert kind == store.index_type == "IndexHNSWFlat" and store.ntotal == len(database)
    _, found = store.search(queries, 10)
    truth = exact_top10(database, queries)
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
    assert recall >= 0.98, recall
    _, exact = store.exact_search(queries, 10)
    assert (exact[:, 0] == truth[:, 0]).all()
    np.testing.assert_allclose(store.reconstruct(7), database[7], atol=1e-6)


def test_the_index_type_follows_the_size_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vectors, "EXACT_MAX_VECTORS", 100)
    assert choose_index_type(100) == "IndexFlatIP"
    assert choose_index_type(101) == "IndexHNSWFlat"


@pytest.mark.parametrize("index_type", ["IndexFlatIP", "IndexHNSWFlat"])
def test_filtered_search_is_exact_over_the_allowed_rows(
    tmp_path: Path, news_vectors: tuple[np.ndarray, np.ndarray], index_type: str
) -> None:
    database, queries = news_vectors
    build_vector_index(database, tmp_path / "v.faiss", index_type=index_type)
    store = load_vector_index(tmp_path / "v.faiss")
    mask = np.zeros(len(database), dtype=bool)
    mask[np.random.default_rng(5).choice(len(database), 37, replace=False)] = True
    _, positions = store.search(queries[:20], 10, mask)
    allowed = np.flatnonzero(mask)
    truth = allowed[exact_top10(database[allowed], queries[:20])]
    np.testing.assert_array_equal(positions, truth)
    _, few = store.search(queries[:1], 10, np.arange(len(database)) < 3)
    assert sorted(few[0][few[0] >= 0].tolist()) == [0, 1, 2]


def test_query_terms_match_the_indexing_tokenizer_on_real_text() -> None:
    """The fast query tokenizer must split, filter and stem exactly as chunks were indexed."""
    import bm25s

    rows, _ = read_news(news_wheel())
    texts = [r.title for r in rows[:300]] + [r.text[:400] for r in rows[:300]]
    texts += ["", "!!", "What is the U.S. e-mail naïve café’s 2017 budget?"]
    for text in texts:
        indexed = bm25s.tokenize(
            [text],
            stopwords=vectors._STOPWORDS,
            stemmer=vectors._stemmer,
            show_progress=False,
            return_ids=False,
        )
        assert vectors.tokenize_query(text) == [t for t in indexed[0] if t], text


@pytest.mark.parametrize("masked", [False, True])
def test_lexical_ranking_equals_bm25s_retrieve(sample_index: Path, masked: bool) -> None:
    """retrieve.py ranks with `get_scores` and a partial sort; bm25s's `retrieve` is the truth."""
    from index.store import IndexSnapshot
    from qa.retrieve import _lexical

    snapshot = IndexSnapshot(sample_index)
    mask = (np.arange(snapshot.size) % 2 == 0) if masked else None
    for question in ["Which cargo ship launched from Baikonur?", "tanks lost by June", "Putin"]:
        tokens = vectors.tokenize_query(question)
        positions, scores = snapshot.bm25.retrieve(
            [tokens],
            k=20,
            show_progress=False,
            n_threads=1,
            weight_mask=None if mask is None else mask.astype(np.float32),
        )
        expected = {int(p): float(s) for p, s in zip(positions[0], scores[0], strict=True) if s > 0}
        found = _lexical(snapshot, question, 20, mask)
        assert expected, question
        # Same scores in the same order; equal scores (ties) may come in either order.
        np.testing.assert_allclose(list(found.values()), list(expected.values()), rtol=1e-5)
        assert len(expected) == 20 or set(found) == set(expected)
        if mask is not None:
            assert all(mask[p] for p in found)
    snapshot.close()
