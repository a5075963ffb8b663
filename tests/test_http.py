"""HTTP: generated requests from the OpenAPI schema, malformed requests, and the protections
(admin token, secrets kept out of logs, security headers, rate limit, CORS, paths)."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import response_schema_conformance

from api.app import create_app
from api.settings import ApiSettings
from index.embedder import Embedder
from qa.engine import Engine
from tests.conftest import ADMIN_TOKEN, LiveServer

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
JSON = {"Content-Type": "application/json"}
QUESTION = "Which company operated the Luton Airport buses sent to Ukraine?"


@pytest.fixture(scope="module")
def index_copy(sample_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of the sample articles that this module's write requests may change."""
    root = tmp_path_factory.mktemp("http") / "index"
    shutil.copytree(sample_index, root)
    return root


@pytest.fixture(scope="module")
def admin_server(index_copy: Path, embedder: Embedder) -> Iterator[LiveServer]:
    settings = ApiSettings(admin_token=ADMIN_TOKEN, rate_limit_per_minute=0)
    with LiveServer(Engine(index_copy, embedder), settings) as server:
        yield server


# -- generated from the schema ------------------------------------------------------------------


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_generated_request_makes_the_server_fail(
    mode: GenerationMode, index_copy: Path, embedder: Embedder
) -> None:
    """Requests generated from /openapi.json, valid and invalid, run against the ASGI app (the
    pytest plugin's lazy fixture schema does not run under pytest 9, so Hypothesis drives it)."""
    app = create_app(
        Engine(index_copy, embedder), ApiSettings(admin_token=ADMIN_TOKEN, rate_limit_per_minute=0)
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [r.ok() for r in schema.get_all_operations() if isinstance(r, Ok)]
    tried = set()
    for operation in operations:

        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def call(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers=AUTH, checks=[not_a_server_error, response_schema_conformance]
            )

        try:
            call()
        except Unsatisfiable:  # nothing to get wrong: no parameters, or any string will do
            assert mode is GenerationMode.NEGATIVE
            continue
        tried.add(operation.label)
    assert tried >= {"POST /ask", "POST /documents", "GET /documents"}


# -- malformed requests -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b'{"question": "Who?"}', {"Content-Type": "text/plain"}, 422),
        (b"question=Who%3F", {"Content-Type": "application/x-www-form-urlencoded"}, 422),
        (b'{"question": "Who?"', JSON, 422),
        (b"", JSON, 422),
        (b"null", JSON, 422),
        (b'["Who?"]', JSON, 422),
        (b'{"question": "Who \\ud800 won?"}', JSON, 422),
        (b'{"question": "Caf\xe9?"}', JSON, 400),
        (b'{"question": "Who?", "top_k": -1}', JSON, 422),
        (b'{"question": "Who?", "top_k": 1000000000000000000000000000000}', JSON, 422),
        (b'{"question": "Who?", "top_k": 2.5}', JSON, 422),
        (b'{"question": "Who?", "top_k": NaN}', JSON, 422),
        (b'{"question": "Who?", "top_k": "many"}', JSON, 422),
        (b'{"question": "Who?", "since": "2023-02-30"}', JSON, 422),
        (b'{"question": "Who?", "session_id": "../../etc"}', JSON, 422),
        (b'{"question": "Who?", "top_k": 1' + b"0" * 5000 + b"}", JSON, 400),
    ],
)
def test_malformed_requests_get_a_4xx_with_a_reason(
    body: bytes, headers: dict[str, str], status: int, live_server: str
) -> None:
    reply = httpx.post(f"{live_server}/ask", content=body, headers=headers)
    assert reply.status_code == status, reply.text
    assert reply.json()["detail"]


def test_oversized_bodies_get_413_declared_or_streamed(live_server: str) -> None:
    big = b'{"question": "' + b"a" * 1_100_000 + b'"}'
    declared = httpx.post(f"{live_server}/ask", content=big, headers=JSON)
    streamed = httpx.post(
        f"{live_server}/ask", content=iter([big[:500_000], big[500_000:]]), headers=JSON
    )  # chunked: no Content-Length to trust
    for reply in (declared, streamed):
        assert reply.status_code == 413
        assert reply.json() == {"detail": "request body over 1000000 bytes (QA_MAX_BODY_BYTES)"}


def test_wrong_methods_and_unknown_paths_are_4xx(live_server: str) -> None:
    assert httpx.get(f"{live_server}/ask").status_code == 405
    assert httpx.put(f"{live_server}/documents", json={}).status_code == 405
    assert httpx.get(f"{live_server}/nothing-here").status_code == 404
    assert httpx.get(f"{live_server}/widget.css").status_code == 404  # listed, not shipped
    assert httpx.get(f"{live_server}/documents", params={"limit": 0}).status_code == 422
    assert httpx.get(f"{live_server}/documents", params={"offset": -1}).status_code == 422


# -- the admin token ----------------------------------------------------------------------------

NEW_DOCUMENT = {"documents": [{"id": "guarded", "text": "The town hall clock was repaired."}]}


def test_writes_are_disabled_without_a_configured_token(live_server: str) -> None:
    assert (
        httpx.post(f"{live_server}/documents", json=NEW_DOCUMENT, headers=AUTH).status_code == 403
    )
    deleted = httpx.delete(f"{live_server}/documents/001_b23dfde50d28c48d.txt", headers=AUTH)
    assert deleted.status_code == 403 and "QA_ADMIN_TOKEN" in deleted.json()["detail"]
    assert httpx.get(f"{live_server}/documents/001_b23dfde50d28c48d.txt").status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        f"Basic {ADMIN_TOKEN}",
        f"Bearer {ADMIN_TOKEN[:-1]}",
        f"Bearer {ADMIN_TOKEN}x",
        f"Bearer {ADMIN_TOKEN.upper()}",
        f"Token {ADMIN_TOKEN}",
    ],
)
def test_writes_need_exactly_the_admin_token(
    authorization: str | None, admin_server: LiveServer
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    for reply in (
        httpx.post(f"{admin_server.url}/documents", json=NEW_DOCUMENT, headers=headers),
        httpx.delete(f"{admin_server.url}/documents/001_b23dfde50d28c48d.txt", headers=headers),
    ):
        assert reply.status_code == 401 and reply.headers["www-authenticate"] == "Bearer"
        assert ADMIN_TOKEN not in reply.text
    assert httpx.get(f"{admin_server.url}/documents/guarded").status_code == 404


def test_the_token_is_compared_in_constant_time(
    admin_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    compare = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return compare(a, b)

    monkeypatch.setattr("api.app.hmac.compare_digest", recording)
    headers = {"Authorization": "Bearer not-the-token"}
    assert (
        httpx.post(f"{admin_server.url}/documents", json=NEW_DOCUMENT, headers=headers).status_code
        == 401
    )
    assert compared == [(b"not-the-token", ADMIN_TOKEN.encode())]


class _ServerLog(logging.Handler):
    """Every record the server side emits (this test's own HTTP client logs are left out)."""

    def __init__(self) -> None:
        super().__init__(level=1)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(("httpx", "httpcore")):
            self.lines.append(f"{self.format(record)} {record.__dict__!r}")


def test_tokens_never_reach_the_logs(index_copy: Path, embedder: Embedder) -> None:
    loggers = [
        logging.getLogger(n)
        for n in ("", "uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "fastapi")
    ]
    capture, levels = _ServerLog(), [logger.level for logger in loggers]
    near_miss = ADMIN_TOKEN[:-4] + "zzzz"
    settings = ApiSettings(admin_token=ADMIN_TOKEN, rate_limit_per_minute=0)
    server = LiveServer(Engine(index_copy, embedder), settings)
    for logger in loggers:
        logger.addHandler(capture)
        logger.setLevel(1)  # everything, down to uvicorn's per-message trace
    try:
        with server:
            added = httpx.post(
                f"{server.url}/documents", json=NEW_DOCUMENT, headers=AUTH, timeout=60
            )
            assert added.status_code == 200
            httpx.delete(f"{server.url}/documents/guarded", headers=AUTH, timeout=60)
            httpx.post(
                f"{server.url}/documents",
                json=NEW_DOCUMENT,
                headers={"Authorization": f"Bearer {near_miss}"},
            )
            httpx.post(f"{server.url}/ask", json={"question": QUESTION}, headers=AUTH)
            httpx.post(f"{server.url}/documents", content=b"{", headers={**AUTH, **JSON})
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(capture)
            logger.setLevel(level)
    log = "\n".join(capture.lines)
    assert '"POST /documents HTTP/1.1" 200' in log and "ASGI" in log  # access and trace logs
    assert ADMIN_TOKEN not in log and near_miss not in log and "Bearer" not in log


# -- served pages, rate limit, CORS -------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/widget.js", "/demo.css", "/healthz", "/nothing", "/documents/nope"]
)
def test_every_response_carries_the_security_headers(path: str, live_server: str) -> None:
    reply = httpx.get(f"{live_server}{path}")
    assert reply.headers["x-content-type-options"] == "nosniff"
    policy = reply.headers["content-security-policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'self'",
    ):
        assert directive in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_asking_too_fast_gets_429_with_retry_after(index_copy: Path, embedder: Embedder) -> None:
    limited = ApiSettings(rate_limit_per_minute=2, rate_limit_exempt=())  # a burst of two
    with LiveServer(Engine(index_copy, embedder), limited) as server:
        statuses = [
            httpx.post(f"{server.url}/ask", json={"question": QUESTION}, timeout=60).status_code
            for _ in range(2)
        ]
        refused = httpx.post(f"{server.url}/ask", json={"question": QUESTION})
        assert [httpx.get(f"{server.url}/healthz").status_code for _ in range(5)] == [200] * 5
    assert statuses == [200, 200] and refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 30
    assert "too many questions" in refused.json()["detail"]
    exempt = ApiSettings(rate_limit_per_minute=1)  # loopback is exempt by default
    with LiveServer(Engine(index_copy, embedder), exempt) as server:
        assert [
            httpx.post(f"{server.url}/ask", json={"question": QUESTION}, timeout=60).status_code
            for _ in range(3)
        ] == [200] * 3


def test_cors_answers_only_origins_on_the_list(
    index_copy: Path, embedder: Embedder, live_server: str
) -> None:
    news, evil = "https://news.example", "https://evil.example"
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    default = httpx.get(f"{live_server}/healthz", headers={"Origin": news})
    assert "access-control-allow-origin" not in default.headers
    settings = ApiSettings(cors_origins=(news,), rate_limit_per_minute=0)
    with LiveServer(Engine(index_copy, embedder), settings) as server:
        allowed = httpx.get(f"{server.url}/healthz", headers={"Origin": news})
        assert allowed.headers["access-control-allow-origin"] == news
        refused = httpx.get(f"{server.url}/healthz", headers={"Origin": evil})
        assert refused.status_code == 200 and "access-control-allow-origin" not in refused.headers
        ok = httpx.options(f"{server.url}/ask", headers={"Origin": news, **preflight})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == news
        bad = httpx.options(f"{server.url}/ask", headers={"Origin": evil, **preflight})
        assert bad.status_code == 400 and "access-control-allow-origin" not in bad.headers


# -- paths --------------------------------------------------------------------------------------

PATH_LIKE_IDS = [
    "../../etc/passwd",
    "/etc/shadow",
    "..\\..\\boot.ini",
    "a/../../b",
    "%2e%2e%2fsecret",
    "CURRENT",
    "../CURRENT",
]


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_document_ids_are_only_ids_never_paths(
    admin_server: LiveServer, index_copy: Path, tmp_path: Path
) -> None:
    passwd = hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest()
    outside = tree(index_copy.parent)
    documents = [
        {"id": i, "text": f"Note number {n} about the harbour."}
        for n, i in enumerate(PATH_LIKE_IDS)
    ]
    added = httpx.post(
        f"{admin_server.url}/documents", json={"documents": documents}, headers=AUTH, timeout=60
    )
    assert added.status_code == 200 and added.json()["added"] == len(PATH_LIKE_IDS)
    for n, doc_id in enumerate(PATH_LIKE_IDS):
        url = f"{admin_server.url}/documents/{quote(doc_id, safe='')}"
        got = httpx.get(url)
        assert got.status_code == 200, doc_id
        assert got.json()["text"] == f"Note number {n} about the harbour."
        assert got.json()["source"] == "api"
        assert httpx.delete(url, headers=AUTH, timeout=60).status_code == 204
        assert httpx.get(url).status_code == 404
    changed = tree(index_copy.parent) ^ outside
    assert all(name.startswith("index/v") for name in changed), changed
    assert hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest() == passwd
    for field in ("path", "source", "file"):
        smuggled = {"documents": [{"id": "x", "text": "Some text.", field: "/etc/passwd"}]}
        reply = httpx.post(f"{admin_server.url}/documents", json=smuggled, headers=AUTH)
        assert reply.status_code == 422 and reply.json()["detail"][0]["type"] == "extra_forbidden"


@pytest.mark.parametrize(
    "raw_path",
    [
        "/../../../../etc/passwd",
        "/..%2f..%2f..%2fetc%2fpasswd",
        "/widget.js/../../app.py",
        "/%2e%2e/%2e%2e/api/app.py",
        "/..%2f..%2fapi%2fapp.py.css",
        "/static/../settings.py",
    ],
)
def test_static_files_cannot_be_escaped(raw_path: str, live_server: str) -> None:
    host, port = live_server.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request("GET", raw_path)  # sent as written, not normalised by a client
        reply = connection.getresponse()
        body = reply.read()
    finally:
        connection.close()
    assert reply.status in (400, 404), raw_path
    assert b"root:" not in body and b"import" not in body
