"""FAISS vector index and the bm25s lexical index over chunks, built and loaded from disk."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol

import bm25s
import faiss
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS
from tqdm import tqdm

from index.config import env_int

# Up to this many chunks search is exact; above, an HNSW graph (approximate, ~10x faster).
EXACT_MAX_VECTORS = env_int("QA_EXACT_MAX_VECTORS", 20_000)
HNSW_M = env_int("QA_HNSW_M", 32)
HNSW_EF_CONSTRUCTION = env_int("QA_HNSW_EF_CONSTRUCTION", 80)
# At 122,181 chunks (make bench's copies, 1,177 questions): recall@10 0.967 / 0.984 / 0.991 /
# 0.992 at 64 / 128 / 192 / 256, 0.18 / 0.31 / 0.44 / 0.60 ms per search (2026-12-04).
HNSW_EF_SEARCH = env_int("QA_HNSW_EF_SEARCH", 192)
_ADD_BATCH = 10_000

_stemmer = Stemmer.Stemmer("english")
# Question words carry no topic: "what", "which", "how many" must not match every passage.
_STOPWORDS = sorted(set(STOPWORDS_EN_PLUS) | {"many", "much"})
_STOPWORD_SET = frozenset(_STOPWORDS)
_WORDS = re.compile(r"(?u)\b\w\w+\b")  # bm25s.tokenize's default token pattern


def tokenize(texts: list[str]) -> bm25s.tokenization.Tokenized:
    return bm25s.tokenize(texts, stopwords=_STOPWORDS, stemmer=_stemmer, show_progress=False)


def tokenize_query(text: str) -> list[str]:
    """Stemmed, stopword-free terms, the same way chunks were indexed.

    The same steps as `bm25s.tokenize` (lowercase, `\\w\\w+` words, stopwords, Snowball stem)
    without its per-call progress-bar objects: answer selection tokenizes every candidate
    sentence, and `bm25s.tokenize` spent ~0.6 ms of CPU on each (70% of an answer's time).
    """
    words = [w for w in _WORDS.findall(text.lower()) if w not in _STOPWORD_SET]
    return [t for t in _stemmer.stemWords(words) if t]


class VectorStore(Protocol):
    """What answering needs from a vector store: top-k by inner product, optionally filtered.

    FAISS in-process implements it here; a networked engine (Qdrant, OpenSearch) can too,
    which is the seam docs/scaling.md describes.
    """

    index_type: str
    ntotal: int

    def search(
        self, queries: np.ndarray, k: int, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, positions), each (len(queries), k); position -1 where fewer matched."""
        ...

    def reconstruct(self, position: int) -> np.ndarray: ...


def choose_index_type(count: int) -> str:
    """Exact search while it is cheap; an HNSW graph above `QA_EXACT_MAX_VECTORS` vectors."""
    return "IndexFlatIP" if count <= EXACT_MAX_VECTORS else "IndexHNSWFlat"


def build_vector_index(vectors: np.ndarray, path: Path, index_type: str | None = None) -> str:
    """Index the rows (chunk positions) for inner-product search; returns the index type's name.

    `index_type` overrides the choice by size (benchmarks and tests compare the two).
    Exact search costs O(rows) per question (~4 ms at 100k rows on one core); the HNSW graph
    costs ~0.45 ms at recall@10 >= 0.98 of exact at 122k chunks (docs/benchmarks.md) but
    takes longer to build.
    """
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    index_type = index_type or choose_index_type(len(vectors))
    if index_type == "IndexFlatIP":
        index: faiss.Index = faiss.IndexFlatIP(vectors.shape[1])
    else:
        hnsw = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        hnsw.hnsw.efSearch = HNSW_EF_SEARCH
        index = hnsw
    batches = range(0, len(vectors), _ADD_BATCH)
    for first in tqdm(batches, desc=index_type, unit="batch", disable=index_type == "IndexFlatIP"):
        index.add(vectors[first : first + _ADD_BATCH])
    faiss.write_index(index, str(path))
    return index_type


def load_vector_index(path: Path) -> FaissVectorStore:
    if not path.is_file():
        raise FileNotFoundError(2, "missing", str(path))
    return FaissVectorStore(faiss.read_index(str(path)))


class FaissVectorStore:
    """A FAISS index (flat or HNSW) behind `VectorStore`; filtered searches are always exact."""

    def __init__(self, index: faiss.Index) -> None:
        self.index = index
        self.ntotal = int(index.ntotal)
        if isinstance(index, faiss.IndexHNSW):
            index.hnsw.efSearch = HNSW_EF_SEARCH
            # The graph's own flat storage answers exact, filtered searches without a copy.
            self._exact = faiss.downcast_index(index.storage)
            self.index_type = "IndexHNSWFlat"
        else:
            self._exact = index
            self.index_type = type(index).__name__

    def search(
        self, queries: np.ndarray, k: int, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(queries.reshape(-1, self.index.d), dtype=np.float32)
        k = min(k, self.ntotal)
        if k <= 0:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.float32), empty.astype(np.int64)
        if mask is None:
            scores, positions = self.index.search(queries, k)
            return scores, positions
        # A graph walk that may only stop at allowed nodes loses recall on narrow filters; a
        # scan of the allowed rows costs at most one exact search and is always right.
        bits = np.packbits(np.asarray(mask, dtype=bool), bitorder="little")
        selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits))
        params = faiss.SearchParameters()
        params.sel = selector
        scores, positions = self._exact.search(queries, k, params=params)
        return scores, positions

    def reconstruct(self, position: int) -> np.ndarray:
        return np.asarray(self._exact.reconstruct(int(position)), dtype=np.float32)

    def exact_search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Brute-force top-k over every row: the reference approximate search is measured by."""
        queries = np.ascontiguousarray(queries.reshape(-1, self.index.d), dtype=np.float32)
        scores, positions = self._exact.search(queries, min(k, self.ntotal))
        return scores, positions


def write_bm25(texts: list[str], folder: Path) -> None:
    retriever = bm25s.BM25()
    if texts:
        retriever.index(tokenize(texts), show_progress=False)
    folder.mkdir()
    retriever.save(str(folder))


def term_idf(retriever: bm25s.BM25) -> dict[str, float]:
    """Inverse document frequency of every indexed term, for weighting question terms."""
    if not getattr(retriever, "vocab_dict", None):
        return {}
    frequency = np.diff(retriever.scores["indptr"])
    total = int(retriever.scores["num_docs"])
    idf = np.log(1 + (total - frequency + 0.5) / (frequency + 0.5))
    return {term: float(idf[i]) for term, i in retriever.vocab_dict.items() if i < len(idf)}


def load_bm25(folder: Path) -> bm25s.BM25:
    if not folder.is_dir():
        raise FileNotFoundError(2, "missing", str(folder))
    return bm25s.BM25.load(str(folder))
