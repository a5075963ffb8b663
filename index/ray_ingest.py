"""`qa ingest --ray`: the splitting and embedding of an ingest as Ray Data `map_batches` jobs.

The driver (where `qa ingest` runs) reads and parses the files, keeps the one duplicate filter,
cuts the encoder batches and writes the index, all as the local path (`index.ingest.Batcher`)
does; the cluster's workers chunk the articles and encode the batches. The index comes out the
same as a local ingest's:
- a worker chunks each article alone; that is what the driver would make of it unless a sentence
  it keeps was already seen (in an earlier article or the index), and those few articles are
  chunked again on the driver with the shared filter;
- each encoder batch is one `Embedder.encode` call on a worker, cut where the local path cuts
  it: the int8 ONNX encoder's vectors depend on the other texts of their batch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import ray

from index import config
from index.articles import Article
from index.chunking import Chunk, DuplicateFilter, Sentence, chunk_article
from index.embedder import Embedder
from index.ingest import Batcher, IngestSummary, batch_texts, ingest_paths
from index.store import IndexWriter

# Articles sent to the cluster at a time: bounds the driver's memory for their texts and vectors.
WAVE_ARTICLES = config.env_int("QA_RAY_WAVE_ARTICLES", 2000)
# Encoder actors (each loads the model once); 0 means one per CPU of the cluster.
ENCODERS = config.env_int("QA_RAY_ENCODERS", 0)

_Batch = list[tuple[Article, list[Chunk]]]


def ingest_on_cluster(
    paths: Sequence[str | Path],
    index_root: Path,
    embedder: Embedder,
    rebuild: bool = False,
    progress: bool = True,
) -> IngestSummary:
    """`ingest_paths` with chunking and encoding on the cluster `index.cluster.connect` joined."""
    ray.data.DataContext.get_current().enable_progress_bars = progress
    return ingest_paths(paths, index_root, embedder, rebuild, progress, ClusterBatcher)


class ClusterBatcher(Batcher):
    """A `Batcher` whose chunking and encoding run on the cluster, a wave of articles at a time."""

    def __init__(self, embedder: Embedder, writer: IndexWriter, summary: IngestSummary) -> None:
        super().__init__(embedder, writer, summary)
        self._articles: list[Article] = []
        self._sealed: list[_Batch] = []

    def add(self, article: Article) -> None:
        self._articles.append(article)
        if len(self._articles) >= WAVE_ARTICLES:
            self._chunk_wave()
            self._encode_sealed()

    def seal(self) -> None:
        """A batch is full: keep it for the next encoding job."""
        self._sealed.append(self._pending)
        self._pending = []
        self._pending_texts = 0

    def flush(self) -> None:
        self._chunk_wave()
        if self._pending:
            self.seal()
        self._encode_sealed()

    def _chunk_wave(self) -> None:
        articles, self._articles = self._articles, []
        for article, alone in zip(articles, chunk_on_cluster(articles), strict=True):
            self.add_chunked(article, self._as_local(article, alone))

    def _as_local(self, article: Article, alone: list[Chunk]) -> list[Chunk]:
        """The chunks the local path makes: `alone` unless a sentence it keeps was seen before
        (no other state carries over between articles)."""
        seen = self.duplicates.seen_hashes - self.writer.sentence_hashes_of(article.doc_id)
        kept = {s.norm_hash for c in alone for s in c.sentences}
        if not kept.isdisjoint(seen):
            return self.chunk(article)
        self.duplicates.seen_hashes = seen | kept
        return alone

    def _encode_sealed(self) -> None:
        batches, self._sealed = self._sealed, []
        texts = [batch_texts(batch) for batch in batches]
        for batch, vectors in zip(batches, encode_on_cluster(texts, self.embedder), strict=True):
            self.write(batch, vectors)


def chunk_on_cluster(articles: Sequence[Article]) -> list[list[Chunk]]:
    """Each article chunked alone, by Ray Data tasks spread over the cluster."""
    if not articles:
        return []
    rows = [{"i": i, "text": a.text, "body_start": a.body_start} for i, a in enumerate(articles)]
    dataset = ray.data.from_items(rows, override_num_blocks=min(len(rows), _cluster_cpus() * 2))
    done = dataset.map_batches(_chunk_alone, batch_format="numpy", num_cpus=1).take_all()
    found = {int(row["i"]): _chunks_from_json(str(row["chunks"])) for row in done}
    return [found[i] for i in range(len(articles))]


def encode_on_cluster(batches: Sequence[list[str]], embedder: Embedder) -> list[np.ndarray]:
    """Vectors of each batch of texts, one `Embedder.encode` call per batch on a Ray actor."""
    if not batches:
        return []
    rows = [{"i": i, "texts": json.dumps(texts)} for i, texts in enumerate(batches)]
    actors = min(len(rows), ENCODERS or _cluster_cpus())
    done = (
        ray.data.from_items(rows, override_num_blocks=len(rows))
        .map_batches(
            _Encoder,
            fn_constructor_args=(embedder.name, embedder.dim),
            batch_size=1,
            batch_format="numpy",
            # From one actor up: CPUs other jobs (Serve replicas) hold are not waited for.
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=actors),
            num_cpus=1,
        )
        .take_all()
    )
    found = {
        int(row["i"]): np.frombuffer(row["vectors"], dtype=np.float32).reshape(-1, embedder.dim)
        for row in done
    }
    return [found[i] for i in range(len(batches))]


def _cluster_cpus() -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _chunk_alone(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    chunks = [
        _chunks_to_json(chunk_article(str(text), int(start), DuplicateFilter()))
        for text, start in zip(batch["text"], batch["body_start"], strict=True)
    ]
    return {"i": batch["i"], "chunks": np.array(chunks, dtype=object)}


class _Encoder:
    """A Ray Data actor: loads the model once, then encodes whole batches."""

    def __init__(self, model: str, dim: int) -> None:
        # One CPU reserved, one encoder thread: actors sharing a node must not oversubscribe it.
        os.environ.setdefault("QA_ENCODER_THREADS", "1")
        self.embedder = Embedder()
        if (self.embedder.name, self.embedder.dim) != (model, dim):
            raise RuntimeError(
                f"this worker's model is {self.embedder.name} ({self.embedder.dim} dims), the "
                f"driver's {model} ({dim}): install the same Dateline and QA_MODEL on every node"
            )

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = [self.embedder.encode(json.loads(str(t))).tobytes() for t in batch["texts"]]
        return {"i": batch["i"], "vectors": np.array(vectors, dtype=object)}


def _chunks_to_json(chunks: list[Chunk]) -> str:
    return json.dumps(
        [[c.start, c.end, [[s.start, s.end, s.norm_hash] for s in c.sentences]] for c in chunks]
    )


def _chunks_from_json(text: str) -> list[Chunk]:
    return [
        Chunk(start, end, tuple(Sentence(*sentence) for sentence in sentences))
        for start, end, sentences in json.loads(text)
    ]
