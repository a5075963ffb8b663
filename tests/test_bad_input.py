"""Bad input: odd questions and broken files get a clear message, and nothing is lost."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from index.embedder import Embedder
from index.ingest import ingest_paths
from index.store import IndexSnapshot
from qa.cli import main
from qa.engine import BadQuestion, Engine
from qa.models import AskResponse
from tests.conftest import ARTICLES

BUSES = "Which company operated the Luton Airport buses sent to Ukraine?"


def run_qa(args: list[str], embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> Result:
    """`qa ...` in this process, sharing the already loaded model instead of loading another."""
    monkeypatch.setattr("index.embedder.Embedder", lambda *_, **__: embedder)
    monkeypatch.setattr("qa.engine.Embedder", lambda *_, **__: embedder)
    return CliRunner().invoke(main, args)


def assert_quotes_are_exact(response: AskResponse, engine: Engine) -> None:
    """Every quoted text is its article's text at the stated offsets."""
    quotes = [response.answer, *response.passages] if response.answer else response.passages
    documents = engine.snapshot.documents(q.doc_id for q in quotes)
    for quote in quotes:
        assert documents[quote.doc_id].text[quote.char_start : quote.char_end] == quote.text


def ingest(paths: list[Path], root: Path, embedder: Embedder):  # noqa: ANN201
    return ingest_paths(paths, root, embedder, progress=False)


# -- questions ----------------------------------------------------------------------------------

ODD_QUESTIONS = [
    "Кто управлял автобусами, отправленными в Украину?",
    "哪家公司运营了送往乌克兰的巴士？",
    "ما هي الشركة التي شغلت الحافلات المرسلة إلى أوكرانيا؟",
    "\u202eWhich company operated the buses?\u202c",
    "🚌🚌 buses to Ukraine? 🇺🇦",
    "ｆｕｌｌ ｗｉｄｔｈ ﬁ ligature buses",
    "'; DROP TABLE documents; --",
    "1' OR '1'='1",
    "Robert'); DELETE FROM sentences WHERE 1=1; --",
    "<script>alert(1)</script> Which company operated the buses?",
    '<img src=x onerror="alert(1)"> buses',
    "what is the",
    "x",
    "buses " * 333,
]


@pytest.mark.parametrize("question", ODD_QUESTIONS)
def test_odd_questions_are_answered_or_abstained_never_crash(
    question: str, engine: Engine, live_server: str
) -> None:
    before = engine.snapshot.list_documents(0, 100)
    reply = httpx.post(f"{live_server}/ask", json={"question": question}, timeout=60)
    assert reply.status_code == 200, reply.text
    response = AskResponse.model_validate(reply.json())
    assert response == engine.ask(question)
    assert response.question == " ".join(
        question.replace("\u202e", "").replace("\u202c", "").split()
    )  # echoed as text, never interpreted
    assert_quotes_are_exact(response, engine)
    assert IndexSnapshot(engine.index_root).list_documents(0, 100) == before


def test_control_characters_are_dropped_from_the_question(engine: Engine, live_server: str) -> None:
    noisy = "\x00\x1b[31mWhich company operated the Luton Airport\x07 buses sent to Ukraine?\x7f"
    reply = httpx.post(f"{live_server}/ask", json={"question": noisy}, timeout=60)
    assert reply.status_code == 200
    response = AskResponse.model_validate(reply.json())
    assert response.question.isprintable() and response.question.startswith("[31mWhich")
    clean = engine.ask(response.question)
    assert response.answer == clean.answer and response.passages == clean.passages


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("   \t\n  ", "the question is empty"),
        ("\x00\x01\x1b\x7f", "the question is empty"),
        ("?!?... --- ;; «»", "the question has no words"),
        ("a" * 2001, "the limit is 2000 (QA_MAX_QUESTION_CHARS)"),
    ],
)
def test_unaskable_questions_get_a_clear_422(
    question: str, message: str, engine: Engine, live_server: str
) -> None:
    with pytest.raises(BadQuestion, match=re.escape(message)):
        engine.ask(question)
    reply = httpx.post(f"{live_server}/ask", json={"question": question})
    assert reply.status_code == 422 and message in reply.json()["detail"]


def test_an_empty_question_is_refused_by_the_schema(live_server: str) -> None:
    reply = httpx.post(f"{live_server}/ask", json={"question": ""})
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["body", "question"]


def test_a_one_megabyte_question_is_refused_before_it_is_read(
    engine: Engine, live_server: str
) -> None:
    question = "Who won? " * 120_000
    with pytest.raises(BadQuestion, match="limit is 2000"):
        engine.ask(question)
    reply = httpx.post(f"{live_server}/ask", json={"question": question})
    assert reply.status_code == 413 and "QA_MAX_BODY_BYTES" in reply.json()["detail"]


def test_cli_reports_bad_questions_with_exit_code_2(
    sample_index: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = run_qa(["ask", "  ", "--index", str(sample_index)], embedder, monkeypatch)
    assert empty.exit_code == 2 and "error: the question is empty" in empty.output
    bad_day = run_qa(
        ["ask", BUSES, "--since", "2023-13-01", "--index", str(sample_index)], embedder, monkeypatch
    )
    assert bad_day.exit_code == 2 and "since must be a date" in bad_day.output
    no_passages = run_qa(
        ["ask", BUSES, "--top-k", "0", "--index", str(sample_index)], embedder, monkeypatch
    )
    assert no_passages.exit_code == 2 and "--top-k" in no_passages.output
    assert "Traceback" not in empty.output + bad_day.output + no_passages.output


# -- files --------------------------------------------------------------------------------------


def test_utf16_both_byte_orders_are_read_and_bomless_utf16_is_reported(
    tmp_path: Path, embedder: Embedder
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "be.txt").write_bytes(b"\xfe\xff" + "Kyiv’s trams ran again.".encode("utf-16-be"))
    (folder / "nobom.txt").write_bytes("Odesa port reopened.".encode("utf-16-le"))
    summary = ingest([folder], tmp_path / "index", embedder)
    problems = {Path(p.source).name: p.message for p in summary.problems}
    assert problems.keys() == {"nobom.txt"} and "binary" in problems["nobom.txt"]
    doc = IndexSnapshot(tmp_path / "index").document("be.txt")
    assert doc is not None and doc.text == "Kyiv’s trams ran again."


def test_bytes_of_no_known_encoding_and_blank_files_are_reported(
    tmp_path: Path, embedder: Embedder
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "mojibake.txt").write_bytes(b"Caf\xe9 \x81\x8d\x8f\x90\x9d reopened.")
    (folder / "blank.md").write_text(" \n\t\n\u3000\n")
    (folder / "notes.pdf").write_bytes(b"%PDF-1.4")
    (folder / "good.txt").write_text("The ferry to Hel resumed on Friday.\n")
    summary = ingest([folder, folder / "notes.pdf"], tmp_path / "index", embedder)
    problems = {Path(p.source).name: p.message for p in summary.problems}
    assert "not UTF-8 text" in problems["mojibake.txt"]
    assert "empty" in problems["blank.md"]
    assert "unsupported file type" in problems["notes.pdf"]
    assert summary.documents_added == 1
    assert IndexSnapshot(tmp_path / "index").document("good.txt") is not None


def test_a_50_megabyte_article_is_refused_and_the_rest_ingested(
    tmp_path: Path, embedder: Embedder
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    sentence = b"The grain corridor stayed open through the winter, officials said. "
    (folder / "huge.txt").write_bytes(sentence * (50_000_000 // len(sentence)))
    (folder / "small.txt").write_text("The ferry to Hel resumed on Friday.\n")
    sparse = folder / "sparse.txt"
    with sparse.open("wb") as file:
        file.truncate(70_000_000)  # over QA_MAX_FILE_BYTES, without using the disk
    summary = ingest([folder], tmp_path / "index", embedder)
    problems = {Path(p.source).name: p.message for p in summary.problems}
    assert "over the 1,000,000 limit" in problems["huge.txt"]
    assert "QA_MAX_ARTICLE_CHARS" in problems["huge.txt"]
    assert "70.0 MB, over the 67 MB limit" in problems["sparse.txt"]
    snapshot = IndexSnapshot(tmp_path / "index")
    assert snapshot.list_documents(0, 10)[0] == 1 and snapshot.document("small.txt")
    (folder / "huge.txt").write_bytes(sentence * 3)  # once fixed, it goes in
    assert ingest([folder], tmp_path / "index", embedder).documents_added == 1


def test_hostile_jsonl_lines_are_reported_by_number_and_good_lines_kept(
    tmp_path: Path, embedder: Embedder
) -> None:
    lines = [
        json.dumps({"id": "kept", "text": "First version of the story."}),
        "[" * 100_000 + "]" * 100_000,
        '{"id": "big", "text": "x", "n": 1' + "0" * 5000 + "}",
        json.dumps({"id": "crlf", "text": "A record that ends in CRLF."}) + "\r",
        json.dumps(
            {"id": "sep", "text": "One record\u2028across a line separator."}, ensure_ascii=False
        ),
        json.dumps(["text", "an array"]),
        json.dumps({"id": "num", "text": 5}),
        json.dumps({"id": "kept", "text": "Second version of the story, which wins."}),
        json.dumps({"id": "long", "text": "word " * 250_000}),
        "\ufeff" + json.dumps({"id": "bom", "text": "A stray byte-order mark."}),
        json.dumps({"id": "last", "text": "The last line has no newline."}),
    ]
    path = tmp_path / "feed.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    summary = ingest([path], tmp_path / "index", embedder)
    problems = {p.line: p.message for p in summary.problems}
    assert set(problems) == {2, 3, 6, 7, 9, 10}
    assert "malformed JSON" in problems[2] and "malformed JSON" in problems[3]
    assert '"text" string' in problems[6] and '"text" string' in problems[7]
    assert "QA_MAX_ARTICLE_CHARS" in problems[9] and "malformed JSON" in problems[10]
    snapshot = IndexSnapshot(tmp_path / "index")
    texts = {d: snapshot.document(d) for d in ("kept", "crlf", "sep", "last")}
    assert all(texts.values())
    assert texts["kept"].text.startswith("Second version")  # type: ignore[union-attr]
    assert texts["sep"].text == "One record\u2028across a line separator."  # type: ignore[union-attr]
    assert snapshot.list_documents(0, 10)[0] == 4


def test_scripts_and_handlers_in_html_never_reach_the_index(
    tmp_path: Path, embedder: Embedder
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    body = "The museum in Lviv reopened its doors to visitors on Sunday morning. " * 3
    (folder / "page.html").write_text(
        "<html><head><title>Museum reopens</title><style>p{color:red}</style></head><body>"
        f"<article><h1>Museum reopens</h1><p onclick=\"alert('click')\">{body}</p>"
        "<script>document.cookie='stolen'</script><iframe src='javascript:alert(2)'></iframe>"
        "<p>Curators said 40 paintings <img src=x onerror=alert(3)> were returned.</p>"
        "</article></body></html>"
    )
    (folder / "scripts.html").write_text(
        "<html><body><script>alert(1)</script><style>p{}</style></body></html>"
    )
    summary = ingest([folder], tmp_path / "index", embedder)
    problems = {Path(p.source).name: p.message for p in summary.problems}
    assert problems == {"scripts.html": "no article text found in this HTML page"}
    doc = IndexSnapshot(tmp_path / "index").document("page.html")
    assert doc is not None and "paintings" in doc.text
    for hostile in ("alert", "cookie", "onerror", "onclick", "javascript", "<", "color:red"):
        assert hostile not in doc.text


@pytest.mark.parametrize("line", ["date 2023-02-30", "date 2023-13-45", "date yesterday"])
def test_an_impossible_date_line_is_reported_and_the_date_inferred(
    line: str, tmp_path: Path, embedder: Embedder
) -> None:
    path = tmp_path / "story.txt"
    path.write_text(f"{line}\nThe bridge reopened on Monday, 6 March 2023, after repairs.\n")
    summary = ingest([path], tmp_path / "index", embedder)
    assert [
        (p.line, "impossible or malformed date line" in p.message) for p in summary.problems
    ] == [(1, True)]
    doc = IndexSnapshot(tmp_path / "index").document("story.txt")
    assert doc is not None and doc.text == path.read_text()
    assert (doc.date, doc.date_source) == ("2023-03-06", "inferred")


def test_an_index_path_that_cannot_be_created_is_reported_not_raised(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    result = run_qa(
        [
            "ingest",
            str(ARTICLES / "001_b23dfde50d28c48d.txt"),
            "--index",
            str(blocker / "index"),
            "--quiet",
        ],
        embedder,
        monkeypatch,
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "could not write a new version" in result.output
    assert blocker.read_text() == "x"
