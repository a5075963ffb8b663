"""Faults: a writer killed at every step, readers during writes, damaged files, a full disk.

Writers run in forked children that share the loaded model (one `qa ingest` subprocess checks
the real command too); they are SIGKILLed where the store's test hook makes them pause.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from api.settings import ApiSettings
from index import store
from index.articles import Article
from index.embedder import Embedder
from index.ingest import delete_documents, ingest_articles, ingest_paths
from index.store import (
    CURRENT,
    KEEP_VERSIONS,
    TEST_PAUSE_ENV,
    TEST_PAUSE_POINTS,
    IndexSnapshot,
    IndexUnavailable,
    live_version,
)
from qa.engine import Engine
from tests.conftest import ADMIN_TOKEN, LiveServer
from tests.test_bad_input import run_qa

FORK = multiprocessing.get_context("fork")
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
BRIDGE_QUESTION = "What happened to the Harwick bridge?"
OLD_CORPUS = {
    "bridge.txt": "date 2021-03-04\nThe Harwick bridge reopened on Tuesday after two months "
    "of repairs.\nTraffic on the bridge was light in the morning.\n",
    "feed.jsonl": '{"id": "mill", "text": "The old flour mill in Dunmore became a museum."}\n'
    '{"id": "choir", "text": "The Dunmore choir won the regional contest on Sunday."}\n',
}
NEW_CORPUS = {
    "bridge.txt": "date 2021-03-09\nThe Harwick bridge was closed again on Friday after "
    "engineers found cracks in a pier.\nDrivers were sent through Elton instead.\n",
    "feed.jsonl": '{"id": "mill", "text": "The old flour mill in Dunmore became a museum."}\n'
    '{"id": "market", "text": "A night market opened on the Dunmore quay in June."}\n',
    "ferry.txt": "The Elton ferry will run every hour while the bridge is shut.\n",
}
IndexState = dict[str, tuple[str, tuple[str, ...]]]


# -- helpers ------------------------------------------------------------------------------------


def write_corpus(folder: Path, files: dict[str, str]) -> None:
    for stale in folder.iterdir():
        stale.unlink()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")


def index_state(root: Path) -> IndexState:
    """Each document's text and indexed sentences, read through the offsets of a loaded
    snapshot (which itself checks that metadata, vectors and files agree)."""
    snapshot = IndexSnapshot(root)
    try:
        _, rows = snapshot.list_documents(0, 1000)
        documents = snapshot.documents(row.doc_id for row in rows)
        sentence_rows = snapshot.sentences_of([int(c) for c in snapshot.chunk_ids])
        assert [row[0] for row in sentence_rows] == snapshot.sentence_ids.tolist()
        sentences: dict[str, list[str]] = defaultdict(list)
        for _, _, doc_id, start, end in sentence_rows:
            sentences[doc_id].append(documents[doc_id].text[start:end])
        return {d: (row.text, tuple(sentences[d])) for d, row in documents.items()}
    finally:
        snapshot.close()


def answer_key(engine: Engine, question: str) -> tuple[object, ...]:
    """What a reader sees: the quoted sentence and the passages, by document and offsets."""
    response = engine.ask(question)
    answer = response.answer
    return (
        (answer.doc_id, answer.char_start, answer.char_end) if answer else None,
        *((p.doc_id, p.char_start, p.char_end) for p in response.passages),
    )


def assert_tidy(root: Path) -> None:
    """Only published versions remain, no more than kept, and no crashed writer's leftovers."""
    live = live_version(root)
    versions = sorted(p.name for p in root.glob("v[0-9]*"))
    assert live is not None and versions[-1] == live and len(versions) <= KEEP_VERSIONS
    assert not list(root.glob(".tmp-*")) and not (root / f".{CURRENT}.tmp").exists()


def forked(work: Callable[[], object]) -> multiprocessing.process.BaseProcess:
    """`work` in a forked child, which shares this process's loaded model."""

    def run() -> None:
        import torch

        torch.set_num_threads(1)  # the parent's thread pool does not survive a fork
        work()

    child = FORK.Process(target=run, daemon=True)
    child.start()
    return child


def wait_for_pause(fd: int, point: str) -> None:
    """Read the writer's stderr until the test hook reports the pause (a generous safety net
    keeps a broken hook from hanging the suite)."""
    seen, marker = b"", f"paused at {point}".encode()
    deadline = time.monotonic() + 180
    while marker not in seen:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(fd, 65536) if ready else b""
        if not chunk:
            raise AssertionError(f"the writer never paused at {point}: {seen.decode()[-2000:]}")
        seen += chunk


def kill_at(point: str, work: Callable[[], object]) -> None:
    """Run `work` in a child writer that pauses at `point`, and SIGKILL it there."""
    read_fd, write_fd = os.pipe()

    def paused() -> None:
        os.dup2(write_fd, 2)
        os.environ[TEST_PAUSE_ENV] = point
        work()

    child = forked(paused)
    os.close(write_fd)
    try:
        wait_for_pause(read_fd, point)
        assert child.pid is not None
        os.kill(child.pid, signal.SIGKILL)
        child.join(60)
        assert child.exitcode == -signal.SIGKILL
    finally:
        if child.is_alive():
            child.kill()
            child.join()
        os.close(read_fd)


@dataclass(frozen=True)
class Change:
    """One ingest that edits, adds and removes documents: the states before and after it."""

    corpus: Path
    before: Path
    old_state: IndexState
    new_state: IndexState
    old_answer: tuple[object, ...]
    new_answer: tuple[object, ...]


@pytest.fixture(scope="module")
def change(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Change:
    folder = tmp_path_factory.mktemp("change")
    corpus = folder / "corpus"
    corpus.mkdir()
    write_corpus(corpus, OLD_CORPUS)
    before, after = folder / "before", folder / "after"
    ingest_paths([corpus], before, embedder, progress=False)
    write_corpus(corpus, NEW_CORPUS)
    shutil.copytree(before, after)
    ingest_paths([corpus], after, embedder, progress=False)
    old_state, new_state = index_state(before), index_state(after)
    assert set(old_state) == {"bridge.txt", "mill", "choir"}
    assert set(new_state) == {"bridge.txt", "mill", "market", "ferry.txt"}
    old_answer = answer_key(Engine(before, embedder), BRIDGE_QUESTION)
    new_answer = answer_key(Engine(after, embedder), BRIDGE_QUESTION)
    assert old_answer[0] != new_answer[0]
    return Change(corpus, before, old_state, new_state, old_answer, new_answer)


# -- a writer killed at every step --------------------------------------------------------------


def test_a_writer_killed_at_any_step_leaves_the_old_or_the_new_index(
    change: Change, tmp_path: Path, embedder: Embedder
) -> None:
    for point in TEST_PAUSE_POINTS:
        root = tmp_path / point
        shutil.copytree(change.before, root)
        kill_at(
            point, functools.partial(ingest_paths, [change.corpus], root, embedder, progress=False)
        )
        published = point == "current-replaced"
        expected_state = change.new_state if published else change.old_state
        assert index_state(root) == expected_state, point
        expected_answer = change.new_answer if published else change.old_answer
        assert answer_key(Engine(root, embedder), BRIDGE_QUESTION) == expected_answer, point
        ingest_paths([change.corpus], root, embedder, progress=False)  # the next run completes
        assert index_state(root) == change.new_state, point
        assert_tidy(root)


def test_qa_ingest_killed_after_writing_its_version_publishes_nothing(
    change: Change, tmp_path: Path, embedder: Embedder
) -> None:
    root = tmp_path / "index"
    shutil.copytree(change.before, root)
    qa = Path(sys.executable).with_name("qa")
    env = {**os.environ, TEST_PAUSE_ENV: "version-renamed", "HF_HUB_OFFLINE": "1"}
    writer = subprocess.Popen(
        [str(qa), "ingest", str(change.corpus), "--index", str(root), "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert writer.stderr is not None
        wait_for_pause(writer.stderr.fileno(), "version-renamed")
        assert len(list(root.glob("v[0-9]*"))) == 2  # the new version is on disk, unpublished
        writer.send_signal(signal.SIGKILL)
        assert writer.wait(60) == -signal.SIGKILL
    finally:
        writer.kill()
        writer.wait()
    assert index_state(root) == change.old_state
    assert answer_key(Engine(root, embedder), BRIDGE_QUESTION) == change.old_answer
    summary = ingest_paths([change.corpus], root, embedder, progress=False)
    assert summary.documents_added == 3 and summary.documents_removed == 1
    assert index_state(root) == change.new_state
    assert_tidy(root)


# -- readers during writes ----------------------------------------------------------------------

LIGHTHOUSE = Article(
    doc_id="lighthouse",
    source="api",
    date="2021-05-04",
    date_source="metadata",
    text="The Quillon lighthouse was repainted green on Tuesday, the harbour office said.\n"
    "Its lamp will be switched back on next week.\n",
)
LIGHTHOUSE_QUESTION = "What colour was the Quillon lighthouse repainted?"


def test_readers_see_whole_versions_while_other_processes_and_the_api_write(
    sample_index: Path, tmp_path: Path, embedder: Embedder
) -> None:
    root, with_doc = tmp_path / "index", tmp_path / "with-doc"
    shutil.copytree(sample_index, root)
    shutil.copytree(sample_index, with_doc)
    ingest_articles([LIGHTHOUSE], with_doc, embedder)
    without_answer = Engine(root, embedder).ask(LIGHTHOUSE_QUESTION).answer
    with_answer = Engine(with_doc, embedder).ask(LIGHTHOUSE_QUESTION).answer
    assert without_answer is None and with_answer is not None
    texts = {doc_id: text for doc_id, (text, _) in index_state(with_doc).items()}

    def churn(cycles: int) -> None:
        for _ in range(cycles):
            ingest_articles([LIGHTHOUSE], root, embedder)
            delete_documents([LIGHTHOUSE.doc_id], root, embedder)

    replies: list[httpx.Response] = []
    stop = threading.Event()
    settings = ApiSettings(admin_token=ADMIN_TOKEN, rate_limit_per_minute=0)
    with LiveServer(Engine(root, embedder), settings) as server:

        def read() -> None:
            with httpx.Client(base_url=server.url, timeout=60) as client:
                while not stop.is_set():
                    replies.append(client.post("/ask", json={"question": LIGHTHOUSE_QUESTION}))

        writer = forked(functools.partial(churn, 6))
        readers = [threading.Thread(target=read) for _ in range(3)]
        for reader in readers:
            reader.start()
        writer.join(300)
        assert writer.exitcode == 0
        for _ in range(3):  # the same churn through the API, while the readers keep asking
            added = httpx.post(
                f"{server.url}/documents",
                headers=AUTH,
                timeout=60,
                json={
                    "documents": [
                        {"id": LIGHTHOUSE.doc_id, "text": LIGHTHOUSE.text, "date": LIGHTHOUSE.date}
                    ]
                },
            )
            assert added.status_code == 200, added.text
            removed = httpx.delete(f"{server.url}/documents/lighthouse", headers=AUTH, timeout=60)
            assert removed.status_code == 204
        stop.set()
        for reader in readers:
            reader.join()
    assert [r.status_code for r in replies] == [200] * len(replies)
    quoted = {
        (a["doc_id"], a["char_start"], a["char_end"]) if a else None
        for a in (r.json()["answer"] for r in replies)
    }
    assert quoted == {None, (with_answer.doc_id, with_answer.char_start, with_answer.char_end)}
    for reply in replies:
        for passage in reply.json()["passages"]:
            start, end = passage["char_start"], passage["char_end"]
            assert texts[passage["doc_id"]][start:end] == passage["text"]
    assert "lighthouse" not in index_state(root)
    assert_tidy(root)


# -- damaged files ------------------------------------------------------------------------------


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGES: dict[str, tuple[str, Callable[[Path], object]]] = {
    "CURRENT deleted": ("CURRENT", Path.unlink),
    "CURRENT names no version": ("CURRENT", lambda p: p.write_text("v999999\n")),
    "manifest not JSON": ("manifest.json", lambda p: p.write_text("{not json")),
    "metadata bit flip": ("meta.sqlite", flip_byte),
    "metadata deleted": ("meta.sqlite", Path.unlink),
    "vectors truncated": ("vectors.faiss", truncate),
    "chunk ids bit flip": ("chunk_ids.npy", flip_byte),
    "sentence vectors emptied": ("sentence_vectors.npy", lambda p: p.write_bytes(b"")),
    "chunk vectors deleted": ("chunk_vectors.npy", Path.unlink),
    "bm25 vocabulary bit flip": ("bm25/vocab.index.json", flip_byte),
}


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("story") / "story.txt"
    path.write_text("The Harwick bridge reopened on Tuesday after two months of repairs.\n")
    return path


def test_unchanged_files_are_not_hashed_again_and_a_changed_one_is(
    story: Path, tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "index"
    ingest_paths([story], root, embedder, progress=False)
    folder = root / str(live_version(root))
    hashed: list[str] = []
    real = store._sha256
    monkeypatch.setattr(store, "_sha256", lambda path: hashed.append(path.name) or real(path))
    IndexSnapshot(root).close()
    assert hashed == []  # the writer recorded the files it had just hashed
    (folder / store.VERIFIED).unlink()
    IndexSnapshot(root).close()
    assert set(hashed) >= {"meta.sqlite", "vectors.faiss", "chunk_ids.npy"}
    hashed.clear()
    IndexSnapshot(root).close()
    assert hashed == []  # a full check is recorded too
    flip_byte(folder / "chunk_ids.npy")  # same size, new mtime
    with pytest.raises(IndexUnavailable, match="chunk_ids.npy"):
        IndexSnapshot(root)
    assert hashed


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_index_is_named_with_its_fix_everywhere(
    damage: str,
    story: Path,
    tmp_path: Path,
    embedder: Embedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "index"
    ingest_paths([story], root, embedder, progress=False)
    name, harm = DAMAGES[damage]
    target = root / name if name == CURRENT else root / str(live_version(root)) / name
    harm(target)
    with pytest.raises(IndexUnavailable) as failure:
        IndexSnapshot(root)
    message = str(failure.value)
    assert name.split("/")[-1] in message and "qa ingest --rebuild" in message
    asked = run_qa(
        ["ask", "When did the bridge reopen?", "--index", str(root)], embedder, monkeypatch
    )
    assert asked.exit_code == 1 and asked.output == f"Error: {message}\n"
    settings = ApiSettings(admin_token=ADMIN_TOKEN, rate_limit_per_minute=0)
    with LiveServer(Engine(root, embedder), settings) as server:
        reply = httpx.post(f"{server.url}/ask", json={"question": "When did it reopen?"})
        assert (reply.status_code, reply.json()) == (503, {"detail": message})
        assert httpx.get(f"{server.url}/healthz").status_code == 503
        for _ in range(2):  # a refused write releases the index lock: the second is refused too
            new = {"documents": [{"id": "x", "text": "A new article arrived."}]}
            written = httpx.post(f"{server.url}/documents", json=new, headers=AUTH, timeout=30)
            assert written.status_code == 503 and "qa ingest --rebuild" in written.text
    refused = run_qa(["ingest", str(story), "--index", str(root), "--quiet"], embedder, monkeypatch)
    assert refused.exit_code == 1 and "qa ingest --rebuild" in refused.output
    assert "Traceback" not in asked.output + refused.output
    rebuilt = run_qa(
        ["ingest", str(story), "--index", str(root), "--quiet", "--rebuild"], embedder, monkeypatch
    )
    assert rebuilt.exit_code == 0, rebuilt.output
    answered = run_qa(
        ["ask", "When did the bridge reopen?", "--index", str(root), "--json"],
        embedder,
        monkeypatch,
    )
    assert answered.exit_code == 0, answered.output
    assert "Tuesday" in json.loads(answered.stdout)["answer"]["text"]


def test_qa_ask_on_a_damaged_index_exits_1_with_the_file_and_the_fix(
    story: Path, tmp_path: Path, embedder: Embedder
) -> None:
    root = tmp_path / "index"
    ingest_paths([story], root, embedder, progress=False)
    manifest = root / str(live_version(root)) / "manifest.json"
    manifest.write_text("{truncated")
    qa = Path(sys.executable).with_name("qa")
    result = subprocess.run(
        [str(qa), "ask", "When did the bridge reopen?", "--index", str(root)],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(f"Error: {manifest} is damaged or missing")
    assert result.stderr.rstrip().endswith("rebuild it with `qa ingest --rebuild PATH...`")
    assert "Traceback" not in result.stderr


# -- a full disk --------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs, so that writes really fail with ENOSPC (needs root, as in CI here)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "--lazy", str(mount_point)], check=True)


def fill(disk: Path, leave: int) -> Path:
    """Take all of the disk's free space but `leave` bytes."""
    ballast = disk / "ballast"
    stats = os.statvfs(disk)
    with ballast.open("wb") as file:
        file.write(b"\0" * max(0, stats.f_bavail * stats.f_frsize - leave))
    return ballast


def test_a_full_disk_fails_the_ingest_cleanly_and_keeps_the_index(
    small_disk: Path,
    story: Path,
    tmp_path: Path,
    embedder: Embedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = small_disk / "index"
    ingest_paths([story], root, embedder, progress=False)
    before = index_state(root)
    version_bytes = sum(
        p.stat().st_size for p in (root / str(live_version(root))).rglob("*") if p.is_file()
    )
    folder = tmp_path / "more"
    folder.mkdir()
    write_corpus(folder, NEW_CORPUS)
    # Too little room for a new version, from none at all to nearly enough: each attempt stops
    # at another step (copying the metadata, SQLite, vectors, FAISS, BM25, manifest).
    for leave in (0, version_bytes // 4, version_bytes // 2, version_bytes * 9 // 10):
        ballast = fill(small_disk, leave)
        result = run_qa(
            ["ingest", str(folder), "--index", str(root), "--quiet"], embedder, monkeypatch
        )
        assert result.exit_code == 1, (leave, result.output)
        assert "could not write a new version of the index" in result.output
        assert "the previous version stays live" in result.output
        assert "Traceback" not in result.output
        ballast.unlink()
        assert index_state(root) == before, leave
        assert not list(root.glob(".tmp-*"))
        assert Engine(root, embedder).ask("When did the Harwick bridge reopen?").answer
    settings = ApiSettings(admin_token=ADMIN_TOKEN, rate_limit_per_minute=0)
    with LiveServer(Engine(root, embedder), settings) as server:
        ballast = fill(small_disk, 0)
        new = {"documents": [{"id": "x", "text": "A new article arrived on a full disk."}]}
        written = httpx.post(f"{server.url}/documents", json=new, headers=AUTH, timeout=60)
        assert written.status_code == 503 and "stays live" in written.json()["detail"]
        asked = httpx.post(f"{server.url}/ask", json={"question": "When did it reopen?"})
        assert asked.status_code == 200
        ballast.unlink()
    assert index_state(root) == before
    ingest_paths([folder], root, embedder, progress=False)  # with room again, it goes in
    assert set(index_state(root)) == {"story.txt", *NEW_CORPUS, "mill", "market"} - {"feed.jsonl"}
