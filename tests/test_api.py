"""The HTTP API against a real uvicorn server on loopback, with the real model and index."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from api.settings import ApiSettings
from qa.engine import Engine
from qa.models import AskResponse
from tests.conftest import ADMIN_TOKEN, LiveServer


def test_ask_returns_the_same_json_as_the_engine(live_server: str, engine: Engine) -> None:
    question = "Which company operated the Luton Airport buses sent to Ukraine?"
    reply = httpx.post(f"{live_server}/ask", json={"question": question, "top_k": 3})
    assert reply.status_code == 200
    body = AskResponse.model_validate(reply.json())
    assert body == engine.ask(question, top_k=3)
    assert len(body.passages) == 3


def test_no_answer_is_null(live_server: str) -> None:
    reply = httpx.post(f"{live_server}/ask", json={"question": "What is the population of Canada?"})
    assert reply.status_code == 200 and reply.json()["answer"] is None


@pytest.mark.parametrize(
    "payload",
    [
        {"question": ""},
        {"question": "   "},
        {"question": "where?", "top_k": 0},
        {"question": "where?", "top_k": 51},
        {"question": "where?", "colour": "red"},
        {"question": "where?", "since": "2023-01-01", "until": "2022-01-01"},
        {"question": "where?", "since": "yesterday"},
        {},
    ],
)
def test_bad_requests_get_422(live_server: str, payload: dict) -> None:
    reply = httpx.post(f"{live_server}/ask", json=payload)
    assert reply.status_code == 422, reply.text
    assert reply.json()["detail"]


def test_documents_list_and_fetch(live_server: str) -> None:
    page = httpx.get(f"{live_server}/documents", params={"limit": 2}).json()
    assert page["total"] == 5 and len(page["documents"]) == 2
    assert page["documents"][0]["date"] >= page["documents"][1]["date"]
    doc = httpx.get(f"{live_server}/documents/000_2a006b06e76cc382.txt").json()
    assert doc["date"] == "2022-06-01" and doc["date_source"] == "inferred"
    assert doc["text"].startswith("These images show a space rocket")
    assert httpx.get(f"{live_server}/documents/nope.txt").status_code == 404


def test_health_stats_and_openapi(live_server: str) -> None:
    assert httpx.get(f"{live_server}/healthz").json()["status"] == "ok"
    stats = httpx.get(f"{live_server}/stats").json()
    assert stats["documents"] == 5 and stats["chunks"] > 30
    assert stats["model"] == "all-MiniLM-L6-v2" and stats["index_type"]
    schema = httpx.get(f"{live_server}/openapi.json").json()
    assert "/ask" in schema["paths"]
    assert httpx.get(f"{live_server}/docs").status_code == 200


def test_demo_page_and_widget_are_served_with_security_headers(live_server: str) -> None:
    page = httpx.get(f"{live_server}/")
    assert page.status_code == 200 and "widget.js" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    script = httpx.get(f"{live_server}/widget.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]


def test_writes_are_off_without_a_token(live_server: str) -> None:
    reply = httpx.post(
        f"{live_server}/documents", json={"documents": [{"id": "x", "text": "Some text here."}]}
    )
    assert reply.status_code == 403


def test_admin_can_add_and_delete_documents_without_restart(
    tmp_path: Path,
    embedder,
    corpus_dir: Path,  # noqa: ANN001
) -> None:
    from index.ingest import ingest_paths

    root = tmp_path / "index"
    ingest_paths([corpus_dir / "001_b23dfde50d28c48d.txt"], root, embedder, progress=False)
    settings = ApiSettings(admin_token=ADMIN_TOKEN, rate_limit_per_minute=0)
    with LiveServer(Engine(root, embedder), settings) as server:
        question = {"question": "Which bakery won the Lviv bread prize?"}
        assert httpx.post(f"{server.url}/ask", json=question).json()["answer"] is None
        new = {
            "documents": [
                {
                    "id": "bread",
                    "date": "2023-03-02",
                    "title": "Bread prize",
                    "text": "The Lviv bread prize was won by the Pekarnia Zoloto "
                    "bakery on Thursday. Judges praised its rye loaf.",
                }
            ]
        }
        wrong = httpx.post(
            f"{server.url}/documents", json=new, headers={"Authorization": "Bearer wrong"}
        )
        assert wrong.status_code == 401
        auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        added = httpx.post(f"{server.url}/documents", json=new, headers=auth, timeout=60)
        assert added.status_code == 200 and added.json()["added"] == 1
        answer = httpx.post(f"{server.url}/ask", json=question).json()["answer"]
        assert answer is not None and "Pekarnia Zoloto" in answer["text"]
        assert answer["date"] == "2023-03-02" and answer["date_source"] == "metadata"
        deleted = httpx.delete(f"{server.url}/documents/bread", headers=auth, timeout=60)
        assert deleted.status_code == 204
        assert httpx.post(f"{server.url}/ask", json=question).json()["answer"] is None
        assert httpx.get(f"{server.url}/documents/bread").status_code == 404
