"""Ingestion: files -> articles -> chunks -> vectors -> a new index version, with a summary."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from index.articles import Article, Problem, discover, file_hash, parse_file, read_source
from index.chunking import Chunk, DuplicateFilter, chunk_article
from index.embedder import Embedder
from index.store import EmbeddedArticle, IndexWriter

_ENCODE_BATCH_TEXTS = 256


@dataclass
class IngestSummary:
    files: int = 0
    documents_added: int = 0
    documents_unchanged: int = 0
    documents_removed: int = 0
    chunks_added: int = 0
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    version: str | None = None

    def lines(self) -> list[str]:
        head = (
            f"{self.files} files: {self.documents_added} documents added, "
            f"{self.documents_unchanged} unchanged, {self.documents_removed} removed, "
            f"{self.chunks_added} chunks added, {len(self.problems)} problems, "
            f"{self.seconds:.1f} s"
        )
        tail = f"index version {self.version}" if self.version else "index unchanged"
        return [head, tail, *(f"  problem: {p}" for p in self.problems)]


class Batcher:
    """Chunks articles and embeds them in batches large enough to keep the encoder busy.

    `index.ray_ingest` moves the chunking and encoding onto a Ray cluster by overriding `add`,
    `seal` and `flush`; the batches and the writing stay these, so both paths build one index.
    """

    def __init__(self, embedder: Embedder, writer: IndexWriter, summary: IngestSummary) -> None:
        self.embedder = embedder
        self.writer = writer
        self.summary = summary
        self.duplicates = DuplicateFilter(writer.sentence_hashes())
        self._pending: list[tuple[Article, list[Chunk]]] = []
        self._pending_texts = 0
        self._encoder: ThreadPoolExecutor | None = None
        self._encoding: tuple[list[tuple[Article, list[Chunk]]], Future[np.ndarray]] | None = None

    def add(self, article: Article) -> None:
        self.add_chunked(article, self.chunk(article))

    def chunk(self, article: Article) -> list[Chunk]:
        # A changed article must not be judged a duplicate of its own previous version.
        self.duplicates.seen_hashes -= self.writer.sentence_hashes_of(article.doc_id)
        return chunk_article(article.text, article.body_start, self.duplicates)

    def add_chunked(self, article: Article, chunks: list[Chunk]) -> None:
        self._pending.append((article, chunks))
        self._pending_texts += len(chunks) + sum(len(c.sentences) for c in chunks)
        if self._pending_texts >= _ENCODE_BATCH_TEXTS:
            self.seal()

    def seal(self) -> None:
        """A batch is full: it is encoded in a thread while the next one is chunked, and written
        (in order, from this thread) once the next is sealed. Splitting is single-threaded
        Python and onnxruntime releases the GIL: at 250 news articles on a 2-core Xeon, end to
        end ingest went from 0.897-0.903 to 0.932-0.942 of the bare encoder's throughput."""
        self._write_encoded()
        if self._encoder is None:
            self._encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode")
        batch = self._pending
        self._encoding = (batch, self._encoder.submit(self.embedder.encode, batch_texts(batch)))
        self._pending = []
        self._pending_texts = 0

    def flush(self) -> None:
        if self._pending:
            self.seal()
        self._write_encoded()
        if self._encoder is not None:
            self._encoder.shutdown()
            self._encoder = None

    def _write_encoded(self) -> None:
        if self._encoding is not None:
            batch, vectors = self._encoding
            self._encoding = None
            self.write(batch, vectors.result())

    def write(self, batch: list[tuple[Article, list[Chunk]]], vectors: np.ndarray) -> None:
        """Store an encoded batch; `vectors` has one row per text of `batch_texts(batch)`."""
        cursor = 0
        for article, chunks in batch:
            n_chunks = len(chunks)
            n_sentences = sum(len(c.sentences) for c in chunks)
            chunk_vectors = vectors[cursor : cursor + n_chunks]
            sentence_vectors = vectors[cursor + n_chunks : cursor + n_chunks + n_sentences]
            cursor += n_chunks + n_sentences
            self.writer.add_document(
                EmbeddedArticle(article, chunks, chunk_vectors, sentence_vectors)
            )
            self.summary.documents_added += 1
            self.summary.chunks_added += n_chunks


def batch_texts(batch: list[tuple[Article, list[Chunk]]]) -> list[str]:
    """The encoder's input for a batch: per article, its chunk texts, then its sentence texts."""
    texts: list[str] = []
    for article, chunks in batch:
        texts.extend(article.text[c.start : c.end] for c in chunks)
        texts.extend(article.text[s.start : s.end] for c in chunks for s in c.sentences)
    return texts


BatcherFactory = Callable[[Embedder, IndexWriter, IngestSummary], Batcher]


def ingest_paths(
    paths: Sequence[str | Path],
    index_root: Path,
    embedder: Embedder,
    rebuild: bool = False,
    progress: bool = True,
    batcher_factory: BatcherFactory = Batcher,
) -> IngestSummary:
    """Ingest files and folders; unchanged files are skipped, changed ones replace their docs."""
    started = time.perf_counter()
    summary = IngestSummary()
    files, problems = discover(paths)
    summary.problems.extend(problems)
    summary.files = len(files)
    with IndexWriter(index_root, embedder.name, embedder.dim, rebuild=rebuild) as writer:
        if rebuild:
            writer.mark_changed()
        batcher = batcher_factory(embedder, writer, summary)
        for path in tqdm(files, desc="ingest", unit="file", disable=not progress):
            _ingest_file(path, writer, batcher, summary)
        batcher.flush()
        summary.version = writer.commit()
    summary.seconds = time.perf_counter() - started
    return summary


def _ingest_file(path: Path, writer: IndexWriter, batcher: Batcher, summary: IngestSummary) -> None:
    source = str(path)
    try:
        data = read_source(path)
    except (OSError, ValueError) as exc:
        summary.problems.append(Problem(source, _describe(exc)))
        return
    digest = file_hash(data)
    if writer.source_hash(source) == digest:
        summary.documents_unchanged += len(writer.source_doc_ids(source))
        return
    previous = set(writer.source_doc_ids(source))
    prefix = _doc_id_prefix(path, writer)
    doc_ids: list[str] = []
    for item in parse_file(path, data, prefix):
        if isinstance(item, Problem):
            summary.problems.append(item)
            continue
        doc_ids.append(item.doc_id)
        if writer.document_hash(item.doc_id) == item.content_hash:
            summary.documents_unchanged += 1
            continue
        batcher.add(item)
    for stale in previous - set(doc_ids):
        summary.documents_removed += int(writer.remove_document(stale))
    writer.set_source(source, digest, doc_ids)


def ingest_articles(
    articles: Iterable[Article], index_root: Path, embedder: Embedder
) -> IngestSummary:
    """Ingest already-parsed articles (the HTTP API's path); same batching and atomicity."""
    started = time.perf_counter()
    summary = IngestSummary()
    with IndexWriter(index_root, embedder.name, embedder.dim) as writer:
        batcher = Batcher(embedder, writer, summary)
        for article in articles:
            if writer.document_hash(article.doc_id) == article.content_hash:
                summary.documents_unchanged += 1
            else:
                batcher.add(article)
        batcher.flush()
        summary.version = writer.commit()
    summary.seconds = time.perf_counter() - started
    return summary


def delete_documents(doc_ids: Iterable[str], index_root: Path, embedder: Embedder) -> int:
    with IndexWriter(index_root, embedder.name, embedder.dim) as writer:
        removed = sum(int(writer.remove_document(doc_id)) for doc_id in doc_ids)
        writer.commit()
    return removed


def _doc_id_prefix(path: Path, writer: IndexWriter) -> str:
    """File names are document ids; a same-named file from another folder gets its folder too."""
    owner = writer.document_source(path.name)
    if owner is None or owner == str(path):
        return ""
    return f"{path.parent.name}/"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied; make the file readable"
    if isinstance(exc, OSError):
        return f"cannot read: {exc.strerror or exc}"
    return str(exc)
