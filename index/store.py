"""The index on disk: immutable snapshot versions, each a SQLite metadata store + vectors + FAISS.

Layout of the index directory:
    CURRENT          name of the live version (replaced atomically: readers never see a mix)
    v000007/         meta.sqlite, chunk_vectors.npy, chunk_ids.npy, sentence_vectors.npy,
                     sentence_ids.npy, vectors.faiss, bm25/, manifest.json
    .lock            held by the one writer at a time

A writer copies the live version into a temporary folder, applies its changes there and only then
points CURRENT at it; a crash at any moment leaves the previous version live and loadable.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from index.articles import Article
from index.chunking import Chunk

CURRENT = "CURRENT"
KEEP_VERSIONS = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY, source TEXT NOT NULL, title TEXT, date TEXT, date_source TEXT,
    url TEXT, text TEXT NOT NULL, body_start INTEGER NOT NULL, content_hash TEXT NOT NULL,
    ingested_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL, char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks(doc_id);
CREATE TABLE IF NOT EXISTS sentences (
    id INTEGER PRIMARY KEY, chunk_id INTEGER NOT NULL, doc_id TEXT NOT NULL,
    char_start INTEGER NOT NULL, char_end INTEGER NOT NULL, norm_hash INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS sentences_by_chunk ON sentences(chunk_id);
CREATE INDEX IF NOT EXISTS sentences_by_doc ON sentences(doc_id);
CREATE TABLE IF NOT EXISTS sources (
    source TEXT PRIMARY KEY, file_hash TEXT NOT NULL, doc_ids TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class IndexUnavailable(RuntimeError):
    """The index is missing or damaged; the message names the file and the fix."""


@dataclass(frozen=True)
class EmbeddedArticle:
    """An article ready to store: its chunks and the unit vectors of chunks and sentences."""

    article: Article
    chunks: list[Chunk]
    chunk_vectors: np.ndarray
    sentence_vectors: np.ndarray


@dataclass(frozen=True)
class DocumentRow:
    doc_id: str
    source: str
    title: str | None
    date: str | None
    date_source: str | None
    url: str | None
    text: str


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _connect(path: Path, read_only: bool) -> sqlite3.Connection:
    if read_only:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro&immutable=1", uri=True, check_same_thread=False
        )
    else:
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode=DELETE")
    return conn


def live_version(root: Path) -> str | None:
    try:
        return (root / CURRENT).read_text().strip() or None
    except FileNotFoundError:
        return None


class IndexWriter:
    """Applies one batch of changes as a new version; use as a context manager, then `commit`."""

    def __init__(self, root: Path, model_name: str, dim: int, rebuild: bool = False) -> None:
        self.root = root
        self.rebuild = rebuild
        self.model_name = model_name
        self.dim = dim
        self._lock_fd: int | None = None
        self._work: Path | None = None
        self._conn: sqlite3.Connection | None = None
        self._removed_chunks: list[int] = []
        self._removed_sentences: list[int] = []
        self._new_chunk_ids: list[np.ndarray] = []
        self._new_chunk_vectors: list[np.ndarray] = []
        self._new_sentence_ids: list[np.ndarray] = []
        self._new_sentence_vectors: list[np.ndarray] = []
        self._base: Path | None = None
        self.changed = False

    def __enter__(self) -> IndexWriter:
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        self._remove_stale()
        version = None if self.rebuild else live_version(self.root)
        self._base = self.root / version if version else None
        self._work = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.root))
        if self._base is not None:
            if not (self._base / "meta.sqlite").is_file():
                raise IndexUnavailable(
                    f"{self._base / 'meta.sqlite'} is missing; run `qa ingest --rebuild PATH...`"
                )
            shutil.copy2(self._base / "meta.sqlite", self._work / "meta.sqlite")
            manifest = json.loads((self._base / "manifest.json").read_text())
            if manifest.get("model") != self.model_name or manifest.get("dim") != self.dim:
                raise IndexUnavailable(
                    f"the index at {self.root} was built with {manifest.get('model')} "
                    f"({manifest.get('dim')} dims), not {self.model_name}; "
                    "run `qa ingest --rebuild PATH...`"
                )
        self._conn = _connect(self._work / "meta.sqlite", read_only=False)
        self._conn.executescript(SCHEMA)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._work is not None and self._work.exists():
            shutil.rmtree(self._work, ignore_errors=True)
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)

    @property
    def conn(self) -> sqlite3.Connection:
        assert self._conn is not None, "use IndexWriter as a context manager"
        return self._conn

    # -- reading the state being changed --------------------------------------------------------
    def source_hash(self, source: str) -> str | None:
        row = self.conn.execute(
            "SELECT file_hash FROM sources WHERE source=?", (source,)
        ).fetchone()
        return row[0] if row else None

    def source_doc_ids(self, source: str) -> list[str]:
        row = self.conn.execute("SELECT doc_ids FROM sources WHERE source=?", (source,)).fetchone()
        return list(json.loads(row[0])) if row else []

    def document_hash(self, doc_id: str) -> str | None:
        row = self.conn.execute(
            "SELECT content_hash FROM documents WHERE doc_id=?", (doc_id,)
        ).fetchone()
        return row[0] if row else None

    def document_source(self, doc_id: str) -> str | None:
        row = self.conn.execute("SELECT source FROM documents WHERE doc_id=?", (doc_id,)).fetchone()
        return row[0] if row else None

    def sentence_hashes(self) -> set[int]:
        return {row[0] for row in self.conn.execute("SELECT norm_hash FROM sentences")}

    def sentence_hashes_of(self, doc_id: str) -> set[int]:
        rows = self.conn.execute("SELECT norm_hash FROM sentences WHERE doc_id=?", (doc_id,))
        return {row[0] for row in rows}

    # -- changes --------------------------------------------------------------------------------
    def remove_document(self, doc_id: str) -> bool:
        conn = self.conn
        chunk_ids = [r[0] for r in conn.execute("SELECT id FROM chunks WHERE doc_id=?", (doc_id,))]
        sentence_ids = [
            r[0] for r in conn.execute("SELECT id FROM sentences WHERE doc_id=?", (doc_id,))
        ]
        deleted = conn.execute("DELETE FROM documents WHERE doc_id=?", (doc_id,)).rowcount
        conn.execute("DELETE FROM chunks WHERE doc_id=?", (doc_id,))
        conn.execute("DELETE FROM sentences WHERE doc_id=?", (doc_id,))
        self._removed_chunks.extend(chunk_ids)
        self._removed_sentences.extend(sentence_ids)
        self.changed = self.changed or deleted > 0
        return deleted > 0

    def add_document(self, item: EmbeddedArticle) -> None:
        article = item.article
        self.remove_document(article.doc_id)
        conn = self.conn
        conn.execute(
            "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                article.doc_id,
                article.source,
                article.title,
                article.date,
                article.date_source,
                article.url,
                article.text,
                article.body_start,
                article.content_hash,
                datetime.now(UTC).isoformat(timespec="seconds"),
            ),
        )
        n_sentences = sum(len(c.sentences) for c in item.chunks)
        chunk_id = self._allocate("chunk", len(item.chunks))
        sentence_id = self._allocate("sentence", n_sentences)
        chunk_rows, sentence_rows = [], []
        for offset, chunk in enumerate(item.chunks):
            chunk_rows.append((chunk_id + offset, article.doc_id, chunk.start, chunk.end))
            for sentence in chunk.sentences:
                sentence_rows.append(
                    (
                        sentence_id + len(sentence_rows),
                        chunk_id + offset,
                        article.doc_id,
                        sentence.start,
                        sentence.end,
                        sentence.norm_hash,
                    )
                )
        conn.executemany("INSERT INTO chunks VALUES (?,?,?,?)", chunk_rows)
        conn.executemany("INSERT INTO sentences VALUES (?,?,?,?,?,?)", sentence_rows)
        self._new_chunk_ids.append(np.arange(chunk_id, chunk_id + len(chunk_rows), dtype=np.int64))
        self._new_chunk_vectors.append(item.chunk_vectors.astype(np.float32))
        self._new_sentence_ids.append(
            np.arange(sentence_id, sentence_id + n_sentences, dtype=np.int64)
        )
        self._new_sentence_vectors.append(item.sentence_vectors.astype(np.float16))
        self.changed = True

    def set_source(self, source: str, file_hash: str, doc_ids: Sequence[str]) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO sources VALUES (?,?,?)",
            (source, file_hash, json.dumps(list(doc_ids))),
        )
        self.changed = True

    def forget_source(self, source: str) -> None:
        self.conn.execute("DELETE FROM sources WHERE source=?", (source,))

    def _allocate(self, name: str, count: int) -> int:
        row = self.conn.execute("SELECT value FROM counters WHERE name=?", (name,)).fetchone()
        first = row[0] if row else 0
        self.conn.execute("INSERT OR REPLACE INTO counters VALUES (?,?)", (name, first + count))
        return int(first)

    # -- publishing -----------------------------------------------------------------------------
    def commit(self) -> str | None:
        """Write vectors and indexes, then switch CURRENT to the new version. None if unchanged."""
        if not self.changed:
            return None
        assert self._work is not None
        started = time.perf_counter()
        self.conn.commit()
        chunk_ids, chunk_vectors = self._merged(
            "chunk",
            self._removed_chunks,
            self._new_chunk_ids,
            self._new_chunk_vectors,
            np.float32,
        )
        sentence_ids, sentence_vectors = self._merged(
            "sentence",
            self._removed_sentences,
            self._new_sentence_ids,
            self._new_sentence_vectors,
            np.float16,
        )
        np.save(self._work / "chunk_ids.npy", chunk_ids)
        np.save(self._work / "chunk_vectors.npy", chunk_vectors)
        np.save(self._work / "sentence_ids.npy", sentence_ids)
        np.save(self._work / "sentence_vectors.npy", sentence_vectors)
        from index.vectors import build_vector_index, write_bm25

        index_type = build_vector_index(chunk_vectors, self._work / "vectors.faiss")
        write_bm25(self._chunk_texts(chunk_ids), self._work / "bm25")
        counts = {
            name: self.conn.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0]
            for name in ("documents", "chunks", "sentences")
        }
        self.conn.close()
        self._conn = None
        version = self._next_version_name()
        manifest: dict[str, Any] = {
            "version": version,
            "model": self.model_name,
            "dim": self.dim,
            "index_type": index_type,
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "build_seconds": round(time.perf_counter() - started, 3),
            **counts,
        }
        (self._work / "manifest.json").write_text(json.dumps(manifest, indent=2))
        for path in self._work.rglob("*"):
            if path.is_file():
                _fsync_path(path)
        final = self.root / version
        os.replace(self._work, final)
        _fsync_path(self.root)
        pointer = self.root / f".{CURRENT}.tmp"
        pointer.write_text(version + "\n")
        _fsync_path(pointer)
        os.replace(pointer, self.root / CURRENT)
        _fsync_path(self.root)
        self._work = None
        self._remove_stale()
        return version

    def mark_changed(self) -> None:
        """A rebuild publishes even when it adds nothing (an empty index is a valid state)."""
        self.changed = True

    def _merged(
        self,
        kind: str,
        removed: list[int],
        new_ids: list[np.ndarray],
        new_vectors: list[np.ndarray],
        dtype: type[np.floating[Any]],
    ) -> tuple[np.ndarray, np.ndarray]:
        old_ids = np.zeros(0, dtype=np.int64)
        old_vectors = np.zeros((0, self.dim), dtype=dtype)
        if self._base is not None:
            old_ids = np.load(self._base / f"{kind}_ids.npy")
            old_vectors = np.load(self._base / f"{kind}_vectors.npy", mmap_mode="r")
        keep = ~np.isin(old_ids, np.asarray(removed, dtype=np.int64))
        ids = np.concatenate([old_ids[keep], *new_ids]) if new_ids else old_ids[keep]
        vectors = (
            np.concatenate(
                [
                    np.asarray(old_vectors[keep], dtype=dtype),
                    *(v.astype(dtype) for v in new_vectors),
                ]
            )
            if new_vectors
            else np.asarray(old_vectors[keep], dtype=dtype)
        )
        order = np.argsort(ids, kind="stable")
        return ids[order], np.ascontiguousarray(vectors[order]).reshape(-1, self.dim)

    def _chunk_texts(self, chunk_ids: np.ndarray) -> list[str]:
        rows = self.conn.execute(
            "SELECT c.id, substr(d.text, c.char_start + 1, c.char_end - c.char_start) "
            "FROM chunks c JOIN documents d ON d.doc_id = c.doc_id ORDER BY c.id"
        ).fetchall()
        texts = [text for _, text in rows]
        if [cid for cid, _ in rows] != chunk_ids.tolist():
            raise RuntimeError("chunk table and vectors disagree; run `qa ingest --rebuild`")
        return texts

    def _next_version_name(self) -> str:
        numbers = [int(p.name[1:]) for p in self.root.glob("v[0-9]*") if p.name[1:].isdigit()]
        return f"v{max(numbers, default=0) + 1:06d}"

    def _remove_stale(self) -> None:
        """Old versions beyond the newest few, and temporary folders of crashed writers."""
        live = live_version(self.root)
        versions = sorted(p for p in self.root.glob("v[0-9]*") if p.is_dir())
        keep = {p.name for p in versions[-KEEP_VERSIONS:]} | ({live} if live else set())
        for path in versions:
            if path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)
        for path in self.root.glob(".tmp-*"):
            if path != self._work:
                shutil.rmtree(path, ignore_errors=True)


def date_ordinal(value: str | None) -> int:
    return date.fromisoformat(value).toordinal() if value else -1


class IndexSnapshot:
    """One published version, loaded read-only: what the answering side searches."""

    def __init__(self, root: Path) -> None:
        version = live_version(root)
        if version is None:
            raise IndexUnavailable(
                f"no index at {root} (no {root / CURRENT}); build it with `qa ingest PATH...`"
            )
        self.root = root
        self.version = version
        folder = root / version
        self.folder = folder
        try:
            self.manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text())
            self.chunk_ids = np.load(folder / "chunk_ids.npy")
            self.sentence_ids = np.load(folder / "sentence_ids.npy")
            self.sentence_vectors = np.load(folder / "sentence_vectors.npy", mmap_mode="r")
            from index.vectors import load_bm25, load_vector_index, term_idf

            self.vector_index = load_vector_index(folder / "vectors.faiss")
            self.bm25 = load_bm25(folder / "bm25")
            self.term_idf = term_idf(self.bm25)
            if not (folder / "meta.sqlite").is_file():
                raise FileNotFoundError(folder / "meta.sqlite")
            self._conn = _connect(folder / "meta.sqlite", read_only=True)
            self._lock = threading.Lock()
            rows = self._conn.execute(
                "SELECT c.id, c.doc_id, c.char_start, c.char_end, d.date FROM chunks c "
                "JOIN documents d ON d.doc_id = c.doc_id ORDER BY c.id"
            ).fetchall()
        except (OSError, ValueError, sqlite3.Error, RuntimeError, json.JSONDecodeError) as exc:
            name = getattr(exc, "filename", None) or str(exc)
            raise IndexUnavailable(
                f"the index at {folder} is damaged or incomplete ({name}); "
                "rebuild it with `qa ingest --rebuild PATH...`"
            ) from exc
        if len(rows) != len(self.chunk_ids) or self.vector_index.ntotal != len(self.chunk_ids):
            raise IndexUnavailable(
                f"the index at {folder} is inconsistent (metadata has {len(rows)} chunks, "
                f"vectors {self.vector_index.ntotal}); rebuild it with `qa ingest --rebuild PATH...`"
            )
        self.chunk_doc = [row[1] for row in rows]
        self.chunk_start = np.array([row[2] for row in rows], dtype=np.int64)
        self.chunk_end = np.array([row[3] for row in rows], dtype=np.int64)
        self.chunk_date = np.array([date_ordinal(row[4]) for row in rows], dtype=np.int64)

    @property
    def size(self) -> int:
        return len(self.chunk_ids)

    @property
    def newest_date(self) -> date | None:
        """The newest article date: "now" for relative dates in questions about this archive."""
        known = self.chunk_date[self.chunk_date >= 0]
        return date.fromordinal(int(known.max())) if len(known) else None

    def documents(self, doc_ids: Iterable[str]) -> dict[str, DocumentRow]:
        wanted = sorted(set(doc_ids))
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        rows = self._query(
            "SELECT doc_id, source, title, date, date_source, url, text FROM documents "
            f"WHERE doc_id IN ({marks})",
            wanted,
        )
        return {row[0]: DocumentRow(*row) for row in rows}

    def document(self, doc_id: str) -> DocumentRow | None:
        return self.documents([doc_id]).get(doc_id)

    def list_documents(self, offset: int, limit: int) -> tuple[int, list[DocumentRow]]:
        total = self._query("SELECT COUNT(*) FROM documents", ())[0][0]
        rows = self._query(
            "SELECT doc_id, source, title, date, date_source, url, '' FROM documents "
            "ORDER BY date IS NULL, date DESC, doc_id LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return int(total), [DocumentRow(*row) for row in rows]

    def sentences_of(self, chunk_ids: Sequence[int]) -> list[tuple[int, int, str, int, int]]:
        """(sentence id, chunk id, doc id, start, end) of the given chunks, in text order."""
        if not chunk_ids:
            return []
        marks = ",".join("?" * len(chunk_ids))
        return self._query(
            "SELECT id, chunk_id, doc_id, char_start, char_end FROM sentences "
            f"WHERE chunk_id IN ({marks}) ORDER BY id",
            [int(c) for c in chunk_ids],
        )

    def _query(self, sql: str, params: Sequence[Any]) -> list[Any]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def first_sentences(self, doc_ids: Iterable[str]) -> list[tuple[str, int, int]]:
        """(doc id, start, end) of each document's first indexed sentence: its lede."""
        wanted = sorted(set(doc_ids))
        if not wanted:
            return []
        marks = ",".join("?" * len(wanted))
        return self._query(
            "SELECT doc_id, char_start, char_end FROM sentences WHERE id IN "
            f"(SELECT MIN(id) FROM sentences WHERE doc_id IN ({marks}) GROUP BY doc_id)",
            wanted,
        )

    def sentence_vectors_of(self, sentence_ids: Sequence[int]) -> np.ndarray:
        positions = np.searchsorted(self.sentence_ids, np.asarray(sentence_ids, dtype=np.int64))
        return np.asarray(self.sentence_vectors[positions], dtype=np.float32)

    def close(self) -> None:
        self._conn.close()
