"""Shared fixtures: the real model, a real index over the sample articles, a real server."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from api.app import create_app
from api.settings import ApiSettings
from index.embedder import Embedder
from index.ingest import ingest_paths
from qa.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
ARTICLES = ROOT / "data" / "articles"
FIXTURES = ROOT / "tests" / "fixtures"
ADMIN_TOKEN = "test-admin-token-0123456789"


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder()


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample articles plus a hostile one, copied so tests may not alter the originals."""
    folder = tmp_path_factory.mktemp("corpus")
    for path in ARTICLES.iterdir():
        shutil.copy(path, folder / path.name)
    shutil.copy(FIXTURES / "hostile.txt", folder / "hostile.txt")
    return folder


@pytest.fixture(scope="session")
def sample_index(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, corpus_dir: Path
) -> Path:
    root = tmp_path_factory.mktemp("index")
    summary = ingest_paths([corpus_dir], root, embedder, progress=False)
    assert summary.problems == [] and summary.documents_added == 5
    return root


@pytest.fixture(scope="session")
def engine(sample_index: Path, embedder: Embedder) -> Engine:
    return Engine(sample_index, embedder)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """A real uvicorn server on loopback, in a thread of the test process."""

    def __init__(self, engine: Engine, settings: ApiSettings) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            create_app(engine, settings), host="127.0.0.1", port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_server(engine: Engine) -> Iterator[str]:
    settings = ApiSettings(admin_token=None, rate_limit_per_minute=0)
    with LiveServer(engine, settings) as server:
        yield server.url
