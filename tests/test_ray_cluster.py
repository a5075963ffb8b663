"""Dateline on a real two-node Ray cluster on loopback: Ray Data ingest, Serve replicas, index
swaps under load and the loss of a node.

Both nodes run on 127.0.0.1, each with its own raylet, object store and workers. Ray 2.60 binds
its servers (GCS, raylets, object managers, agents, metrics) to loopback only when a node's
address is exactly 127.0.0.1 and to every interface for any other, 127.0.0.2 included; a test
checks that no process of the cluster listens outside 127.0.0.0/8. The tests share the cluster
and run in file order: the last one kills the worker node.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from index.articles import Article, parse_file
from index.chunking import split_sentences
from index.embedder import Embedder
from index.ingest import ingest_paths
from index.store import live_version
from qa.engine import Engine

# Read when Ray is imported. Ray swaps a node address of 127.0.0.1 for the machine's network
# address unless multi-node clusters are "unsupported", which is what this switch says; every
# driver (this process and the `qa --ray` commands it starts) then stays on loopback too.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install '.[ray]'")
import psutil  # noqa: E402  (Ray ships psutil in its own third-party folder)
from ray import serve  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

from tests.conftest import FIXTURES, free_port  # noqa: E402

LOOPBACK = "127.0.0.1"
QA = str(Path(sys.executable).with_name("qa"))
APP, DEPLOYMENT = "dateline", "Dateline"
DEV = [json.loads(line)["question"] for line in (FIXTURES / "dev.jsonl").read_text().splitlines()]
# 50 requests: the dev questions, again with fewer passages, then within a date window.
QUESTIONS = (
    [{"question": q} for q in DEV]
    + [{"question": q, "top_k": 2} for q in DEV]
    + [{"question": q, "since": "2022-06-01", "until": "2022-07-31"} for q in DEV]
)[:50]
NEW_ARTICLE = (
    "Kestrel Bay lighthouse shines again\n"
    "Date: 2022-08-04\n"
    "The Kestrel Bay lighthouse was relit on Thursday after forty-one years of darkness.\n"
    "The harbour board paid for new lenses, and volunteers from the village repainted the tower.\n"
)
NEW_QUESTION = {"question": "When was the Kestrel Bay lighthouse relit?"}


@dataclass
class RayCluster:
    address: str
    head_node_id: str
    worker: Any  # ray._private.node.Node: the worker node, to be killed


@dataclass
class Served:
    url: str
    root: Path
    port: int


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[RayCluster]:
    """A head and a worker node (2 logical CPUs each); every process started here is killed by
    PID at the end, whatever happened."""
    temp = tempfile.mkdtemp(prefix="dl-ray-")  # short: Ray's socket paths must fit 107 bytes
    before = _descendants()
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("RAY_TMPDIR", temp)
            cluster = Cluster(
                initialize_head=True,
                head_node_args={
                    "node_ip_address": LOOPBACK,
                    "include_dashboard": False,
                    "num_cpus": 2,
                },
            )
            head = cluster.head_node
            assert head is not None
            worker = cluster.add_node(node_ip_address=LOOPBACK, num_cpus=2)
            ray.init(address=cluster.address, log_to_driver=False)
            yield RayCluster(cluster.address, head.node_id, worker)
    finally:
        ray.shutdown()
        _kill(_descendants() - before)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def served(
    ray_cluster: RayCluster, sample_index: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """`qa serve --ray` with 2 replicas over a copy of the sample index."""
    folder = tmp_path_factory.mktemp("served")
    root = folder / "index"
    shutil.copytree(sample_index, root)
    port = free_port()
    log = folder / "serve.log"
    started = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                QA,
                "serve",
                "--ray",
                ray_cluster.address,
                "--replicas",
                "2",
                "--index",
                str(root),
                "--host",
                LOOPBACK,
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "QA_RATE_LIMIT": "0"},
        )
    try:
        deadline = time.monotonic() + 240
        while "Dateline on" not in log.read_text():
            assert process.poll() is None, f"qa serve --ray failed:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"Serve not ready:\n{log.read_text()}"
            time.sleep(0.5)
        ready = time.perf_counter() - started
        print(f"\n[ray] qa serve --ray: 2 replicas ready in {ready:.1f} s")
        yield Served(f"http://{LOOPBACK}:{port}", root, port)
    finally:
        process.send_signal(signal.SIGTERM)  # takes the replicas down, then exits
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_default_commands_never_import_ray() -> None:
    code = "import sys, qa.cli, api.app, index.ingest; sys.exit('ray' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


def test_serve_without_an_index_says_so_before_reaching_the_cluster(tmp_path: Path) -> None:
    result = subprocess.run(
        [QA, "serve", "--ray", f"{LOOPBACK}:1", "--index", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "no index at" in result.stderr and "qa ingest" in result.stderr


def test_an_unreachable_cluster_is_reported_at_once(tmp_path: Path, corpus_dir: Path) -> None:
    result = subprocess.run(
        [QA, "ingest", "--ray", f"{LOOPBACK}:1", "--index", str(tmp_path), str(corpus_dir)],
        capture_output=True,
        text=True,
        timeout=120,  # Ray itself would keep retrying for minutes
    )
    assert result.returncode == 1
    assert f"no Ray cluster answers at {LOOPBACK}:1" in result.stderr
    assert live_version(tmp_path) is None


def test_ray_ingest_builds_the_local_index(
    ray_cluster: RayCluster,
    corpus_dir: Path,
    embedder: Embedder,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    folder = tmp_path_factory.mktemp("ray-corpus")
    for path in corpus_dir.iterdir():
        shutil.copy(path, folder / path.name)
    # An article that repeats a sentence of another: chunked alone on a worker it would keep it.
    repeat = folder / "zz_repeat.txt"
    repeat.write_text(
        "Wire roundup\n"
        + _sentences(folder / "000_2a006b06e76cc382.txt")[0]
        + "\nA sentence of its own closes this short wire roundup.\n"
    )
    local, clustered = folder.parent / "local-index", folder.parent / "ray-index"
    ingest_paths([folder], local, embedder, progress=False)
    started = time.perf_counter()
    result = subprocess.run(
        [
            QA,
            "ingest",
            "--ray",
            ray_cluster.address,
            "--quiet",
            "--index",
            str(clustered),
            str(folder),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "QA_RAY_WAVE_ARTICLES": "4"},  # two waves of chunking
    )
    print(
        f"\n[ray] qa ingest --ray of {len(list(folder.iterdir()))} files: "
        f"{time.perf_counter() - started:.1f} s"
    )
    assert result.returncode == 0, result.stderr
    assert "6 documents added" in result.stdout

    tables = {
        "documents": "SELECT doc_id, source, title, date, text, body_start, content_hash "
        "FROM documents ORDER BY doc_id",
        "chunks": "SELECT id, doc_id, char_start, char_end FROM chunks ORDER BY id",
        "sentences": "SELECT id, chunk_id, doc_id, char_start, char_end, norm_hash "
        "FROM sentences ORDER BY id",
    }
    for name, sql in tables.items():
        assert _rows(clustered, sql) == _rows(local, sql), name
    kept = _rows(local, f"SELECT count(*) FROM sentences WHERE doc_id = '{repeat.name}'")
    assert kept == [(len(_sentences(repeat)) - 1,)]  # the repeated sentence is indexed once
    for name in ("chunk_vectors.npy", "sentence_vectors.npy"):
        ours = np.load(_version(clustered) / name).astype(np.float32)
        theirs = np.load(_version(local) / name).astype(np.float32)
        assert ours.shape == theirs.shape and len(ours) > 0
        assert np.allclose(ours, theirs, atol=1e-4), name
    local_engine, cluster_engine = Engine(local, embedder), Engine(clustered, embedder)
    for question in DEV:
        assert cluster_engine.ask(question) == local_engine.ask(question), question


def test_serve_answers_as_the_single_process_server(served: Served, live_server: str) -> None:
    with httpx.Client(timeout=60) as client:
        for body in QUESTIONS:
            single = client.post(f"{live_server}/ask", json=body)
            ray_served = client.post(f"{served.url}/ask", json=body)
            assert single.status_code == ray_served.status_code == 200, body
            assert ray_served.json() == single.json(), body
        stats = client.get(f"{served.url}/stats").json()
        assert stats == client.get(f"{live_server}/stats").json()


def test_cluster_listens_on_loopback_only(ray_cluster: RayCluster, served: Served) -> None:
    pids = {proc.pid for proc in _descendants()} | {os.getpid()}
    listeners = [
        (conn.pid, conn.laddr.ip, conn.laddr.port)
        for conn in psutil.net_connections(kind="tcp")
        if conn.status == psutil.CONN_LISTEN and conn.pid in pids
    ]
    assert any(port == served.port for _, _, port in listeners)  # Serve's proxy is among them
    assert len({pid for pid, _, _ in listeners}) >= 8  # GCS, raylets, agents, workers, replicas
    outside = [item for item in listeners if not _is_loopback(item[1])]
    assert outside == [], [(psutil.Process(pid).name(), ip, port) for pid, ip, port in outside]


def test_index_swap_under_load(served: Served, embedder: Embedder, tmp_path: Path) -> None:
    engine = Engine(served.root, embedder)
    bodies = [NEW_QUESTION, *QUESTIONS[:9]]
    before = {i: _answer(engine, body) for i, body in enumerate(bodies)}
    old_version = live_version(served.root)
    article = tmp_path / "kestrel_bay.txt"
    article.write_text(NEW_ARTICLE)
    # Answers are judged once the run is over: a replica may answer from the new version
    # before this process has computed what the new version answers.
    with Hammer(served.url, bodies, lambda _index, _answer: True, attempts=1) as hammer:
        hammer.wait_for(20)
        summary = ingest_paths([article], served.root, embedder, progress=False)
        assert summary.documents_added == 1 and summary.version != old_version
        after = {i: _answer(engine, body) for i, body in enumerate(bodies)}
        assert after[0] != before[0]  # the new article answers the new question
        with httpx.Client(timeout=30) as client:
            versions = _poll_replicas(
                client,
                served.url,
                lambda seen: len(seen) == 2 and all(v == summary.version for _, v in seen.values()),
            )
            assert client.get(f"{served.url}/stats").json()["index_version"] == summary.version
        hammer.wait_for(hammer.done + 2 * len(bodies))
    print(
        f"\n[ray] index swap: {hammer.done} requests, {len(hammer.failures)} failed; "
        f"replicas now {versions}"
    )
    assert hammer.failures == []
    unexpected = [
        f"{bodies[i]}: {answer}"
        for i, answer in hammer.answers
        if answer not in (before[i], after[i])
    ]
    assert unexpected == []
    assert sum(answer == after[0] for i, answer in hammer.answers if i == 0) >= 2


def test_losing_a_worker_node(ray_cluster: RayCluster, served: Served, embedder: Embedder) -> None:
    engine = Engine(served.root, embedder)
    reference = {i: _answer(engine, body) for i, body in enumerate(QUESTIONS)}
    with httpx.Client(timeout=30) as client:
        seen = _poll_replicas(client, served.url, lambda seen: len(seen) == 2)
        doomed = [r for r, (node, _) in seen.items() if node != ray_cluster.head_node_id]
        assert len(doomed) == 1, f"Serve put no replica on the worker node: {seen}"
        with Hammer(
            served.url, QUESTIONS, lambda i, a: a == reference[i], attempts=60, clients=3
        ) as hammer:
            hammer.wait_until(lambda: hammer.replicas[doomed[0]] >= 3)  # it is in use
            killed = time.perf_counter()
            _kill_node(ray_cluster.worker)
            restored = _poll_replicas(
                client,
                served.url,
                lambda seen: len(seen) == 2 and doomed[0] not in seen and _running() == 2,
                timeout=180,
            )
            failover = time.perf_counter() - killed
            hammer.wait_for(hammer.done + len(QUESTIONS))
    print(
        f"\n[ray] worker node killed: replicas back to 2 in {failover:.1f} s "
        f"({restored}); {hammer.done} requests (per replica {dict(hammer.replicas)}), "
        f"{hammer.failed_attempts} failed attempts {dict(hammer.statuses)} retried"
    )
    assert hammer.failures == []
    assert all(node == ray_cluster.head_node_id for node, _ in restored.values())


@dataclass
class Hammer:
    """Client threads asking the same questions over and over; each request may be tried
    `attempts` times, and its last answer must be one `expected` accepts."""

    url: str
    bodies: list[dict[str, Any]]
    expected: Callable[[int, dict[str, Any]], bool]
    attempts: int
    clients: int = 1
    done: int = 0
    failed_attempts: int = 0
    replicas: Counter[str] = field(default_factory=Counter)
    answers: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, daemon=True) for _ in range(self.clients)
        ]

    def __enter__(self) -> Hammer:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)
            assert not thread.is_alive()

    def wait_for(self, requests: int) -> None:
        self.wait_until(lambda: self.done >= requests)

    def wait_until(self, condition: Callable[[], bool], timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            alive = all(thread.is_alive() for thread in self._threads)
            assert alive and time.monotonic() < deadline, self.failures
            time.sleep(0.05)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self._stop.is_set():
                for index, body in enumerate(self.bodies):
                    self._ask(client, index, body)

    def _ask(self, client: httpx.Client, index: int, body: dict[str, Any]) -> None:
        outcome = "never tried"
        for _ in range(self.attempts):
            try:
                response = client.post("/ask", json=body)
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
            else:
                if response.status_code == 200:
                    answer = response.json()
                    with self._lock:
                        if not self.expected(index, answer):
                            self.failures.append(f"{body}: unexpected answer {answer}")
                        self.answers.append((index, answer))
                        self.replicas[response.headers["X-Dateline-Replica"]] += 1
                        self.done += 1
                    return
                outcome = str(response.status_code)
            with self._lock:
                self.failed_attempts += 1
                self.statuses[outcome] += 1
            time.sleep(0.5)
        with self._lock:
            self.failures.append(f"{body}: {outcome} after {self.attempts} attempts")
            self.done += 1


def _answer(engine: Engine, body: dict[str, Any]) -> dict[str, Any]:
    response = engine.ask(
        body["question"],
        top_k=body.get("top_k", 5),
        since=body.get("since"),
        until=body.get("until"),
    )
    return json.loads(response.model_dump_json())


def _poll_replicas(
    client: httpx.Client,
    url: str,
    done: Callable[[dict[str, tuple[str, str]]], bool],
    timeout: float = 60,
) -> dict[str, tuple[str, str]]:
    """Ask /stats/replica until the replicas seen in the last 20 answers satisfy `done`:
    replica id -> (node id, index version)."""
    deadline = time.monotonic() + timeout
    while True:
        seen: dict[str, tuple[str, str]] = {}
        for _ in range(20):
            try:
                response = client.get(f"{url}/stats/replica")
            except httpx.HTTPError:
                continue
            if response.status_code == 200:
                stats = response.json()
                seen[stats["replica"]] = (stats["node"], stats["index_version"])
        if done(seen):
            return seen
        assert time.monotonic() < deadline, f"replicas seen: {seen}"
        time.sleep(0.5)


def _running() -> int:
    states = serve.status().applications[APP].deployments[DEPLOYMENT].replica_states
    return sum(count for state, count in states.items() if state == "RUNNING")


def _kill_node(node: Any) -> None:
    """SIGKILL a node's raylet and everything under it (its agents and workers), by PID."""
    raylet = psutil.Process(node.all_processes["raylet"][0].process.pid)
    _kill({raylet, *raylet.children(recursive=True)})


def _descendants() -> set[psutil.Process]:
    return set(psutil.Process().children(recursive=True))


def _kill(processes: set[psutil.Process]) -> None:
    for process in processes:
        try:
            process.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(list(processes), timeout=30)


def _is_loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _version(root: Path) -> Path:
    version = live_version(root)
    assert version is not None
    return root / version


def _rows(root: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{_version(root) / 'meta.sqlite'}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


def _sentences(path: Path) -> list[str]:
    (article,) = parse_file(path, path.read_bytes(), "")
    assert isinstance(article, Article)
    return [article.text[s:e] for s, e in split_sentences(article.text, article.body_start)]
