"""FAISS vector index and the bm25s lexical index over chunks, built and loaded from disk."""

from __future__ import annotations

from pathlib import Path

import bm25s
import faiss
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS

_stemmer = Stemmer.Stemmer("english")
# Question words carry no topic: "what", "which", "how many" must not match every passage.
_STOPWORDS = sorted(set(STOPWORDS_EN_PLUS) | {"many", "much"})


def tokenize(texts: list[str]) -> bm25s.tokenization.Tokenized:
    return bm25s.tokenize(texts, stopwords=_STOPWORDS, stemmer=_stemmer, show_progress=False)


def tokenize_query(text: str) -> list[str]:
    """Stemmed, stopword-free terms, the same way chunks were indexed."""
    tokens = bm25s.tokenize([text], stopwords=_STOPWORDS, stemmer=_stemmer, show_progress=False,
                            return_ids=False)
    return [t for t in tokens[0] if t]


def build_vector_index(vectors: np.ndarray, path: Path) -> str:
    """Exact inner-product search; rows are chunk positions. Returns the index type's name."""
    index = faiss.IndexFlatIP(vectors.shape[1])
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    faiss.write_index(index, str(path))
    return "IndexFlatIP"


def load_vector_index(path: Path) -> faiss.Index:
    if not path.is_file():
        raise FileNotFoundError(2, "missing", str(path))
    return faiss.read_index(str(path))


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
