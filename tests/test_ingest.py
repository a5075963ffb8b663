"""Ingestion of every input format, duplicates, re-ingest and bad files, on a real index."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from index.embedder import Embedder
from index.ingest import ingest_paths
from index.store import IndexSnapshot, live_version
from tests.conftest import ARTICLES


def ingest(paths: list[Path], root: Path, embedder: Embedder, **kw: bool):  # noqa: ANN201
    return ingest_paths(paths, root, embedder, progress=False, **kw)


def all_sentences(snapshot: IndexSnapshot) -> list[tuple[int, int, str, int, int]]:
    return snapshot.sentences_of([int(c) for c in snapshot.chunk_ids])


def test_txt_with_date_line_headline_and_offsets(tmp_path: Path, embedder: Embedder) -> None:
    source = ARTICLES / "002_bb2a9d452b7cee68.txt"
    summary = ingest([source], tmp_path, embedder)
    assert summary.documents_added == 1 and summary.problems == []
    snapshot = IndexSnapshot(tmp_path)
    doc = snapshot.document("002_bb2a9d452b7cee68.txt")
    assert doc is not None
    assert doc.text == source.read_text(encoding="utf-8")
    assert doc.date == "2023-09-05" and doc.date_source == "metadata"
    assert doc.title == (
        "Ukraine-Russia war live: Putin to meet Kim Jong-un for weapons talks in Vladivostok"
    )
    for i, chunk_doc in enumerate(snapshot.chunk_doc):
        start, end = int(snapshot.chunk_start[i]), int(snapshot.chunk_end[i])
        assert chunk_doc == doc.doc_id
        assert "date 2023-09-05" not in doc.text[start:end]
    for _, _, _, start, end in all_sentences(snapshot):
        sentence = doc.text[start:end]
        assert sentence == sentence.strip() and sentence


def test_dateless_article_gets_an_inferred_date(tmp_path: Path, embedder: Embedder) -> None:
    ingest([ARTICLES / "003_140fda5b5716f268.txt"], tmp_path, embedder)
    doc = IndexSnapshot(tmp_path).document("003_140fda5b5716f268.txt")
    assert doc is not None and doc.date == "2022-06-25" and doc.date_source == "inferred"


def test_article_without_any_date_stays_undated(tmp_path: Path, embedder: Embedder) -> None:
    (tmp_path / "plain.md").write_text(
        "A festival was held in the town square.\nMany people came to see the parade.\n"
    )
    ingest([tmp_path / "plain.md"], tmp_path / "index", embedder)
    doc = IndexSnapshot(tmp_path / "index").document("plain.md")
    assert doc is not None and doc.date is None and doc.date_source is None


def test_repeated_sentences_are_indexed_once(tmp_path: Path, embedder: Embedder) -> None:
    ingest([ARTICLES / "002_bb2a9d452b7cee68.txt"], tmp_path, embedder)
    snapshot = IndexSnapshot(tmp_path)
    doc = snapshot.document("002_bb2a9d452b7cee68.txt")
    assert doc is not None
    repeated = "Authorities are now working to “neutralise and dismantle” the network."
    assert doc.text.count(repeated) == 2
    texts = [doc.text[s:e] for *_, s, e in all_sentences(snapshot)]
    assert texts.count(repeated) == 1
    assert sum("human trafficking operation was being run" in t for t in texts) == 1


def test_duplicate_across_articles_is_dropped(tmp_path: Path, embedder: Embedder) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    shared = "The bridge over the river was closed to traffic on Monday after the storm."
    (folder / "a.txt").write_text(f"{shared}\nRepairs will take a month, officials said.\n")
    (folder / "b.txt").write_text(f"Crews inspected the damage.\n{shared}\n")
    ingest([folder], tmp_path / "index", embedder)
    snapshot = IndexSnapshot(tmp_path / "index")
    docs = snapshot.documents(["a.txt", "b.txt"])
    texts = [docs[d].text[s:e] for _, _, d, s, e in all_sentences(snapshot)]
    assert texts.count(shared) == 1


def test_jsonl_good_lines_ingested_bad_lines_reported(tmp_path: Path, embedder: Embedder) -> None:
    lines = [
        json.dumps(
            {
                "id": "one",
                "title": "First",
                "date": "2022-03-01",
                "url": "https://example.org/1",
                "text": "The first article is about grain.",
            }
        ),
        "{not json",
        json.dumps({"title": "no text"}),
        json.dumps({"text": "An article without an id or a date, about wheat exports."}),
        json.dumps({"id": "bad-date", "date": "2023-02-30", "text": "A story about barley."}),
    ]
    path = tmp_path / "feed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    summary = ingest([path], tmp_path / "index", embedder)
    assert summary.documents_added == 3
    problems = {p.line: p.message for p in summary.problems}
    assert set(problems) == {2, 3, 5}
    assert "malformed JSON" in problems[2] and "text" in problems[3] and "date" in problems[5]
    snapshot = IndexSnapshot(tmp_path / "index")
    first = snapshot.document("one")
    assert first is not None
    assert (first.title, first.date, first.url) == ("First", "2022-03-01", "https://example.org/1")
    assert snapshot.document("feed.jsonl:4") is not None
    bad = snapshot.document("bad-date")
    assert bad is not None and bad.date is None


def test_html_article_text_and_title(tmp_path: Path, embedder: Embedder) -> None:
    body = " ".join(["The harbour reopened after repairs to the main pier were completed."] * 3)
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>Harbour reopens</title><script>var tracking = 1;</script></head>"
        f"<body><nav>Home | News</nav><article><h1>Harbour reopens</h1><p>{body}</p>"
        "<p>Fishing boats returned to the harbour on Tuesday morning, the port authority said."
        "</p></article></body></html>"
    )
    summary = ingest([path], tmp_path / "index", embedder)
    assert summary.problems == [] and summary.documents_added == 1
    doc = IndexSnapshot(tmp_path / "index").document("page.html")
    assert doc is not None and doc.title == "Harbour reopens"
    assert "Fishing boats returned" in doc.text and "tracking" not in doc.text


def test_reingest_unchanged_does_nothing_and_changed_replaces(
    tmp_path: Path, embedder: Embedder
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    article = folder / "story.txt"
    article.write_text("The ferry service resumed on Friday.\nTickets cost ten euros.\n")
    root = tmp_path / "index"
    first = ingest([folder], root, embedder)
    version = live_version(root)
    again = ingest([folder], root, embedder)
    assert first.documents_added == 1
    assert again.documents_added == 0 and again.documents_unchanged == 1
    assert again.version is None and live_version(root) == version
    article.write_text("The ferry service was suspended on Friday.\nNo tickets are sold.\n")
    changed = ingest([folder], root, embedder)
    assert changed.documents_added == 1 and live_version(root) != version
    snapshot = IndexSnapshot(root)
    doc = snapshot.document("story.txt")
    assert doc is not None and "suspended" in doc.text
    texts = [doc.text[s:e] for *_, s, e in all_sentences(snapshot)]
    assert texts == ["The ferry service was suspended on Friday.", "No tickets are sold."]


def test_unreadable_and_binary_files_are_reported_rest_ingested(
    tmp_path: Path, embedder: Embedder
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(ARTICLES / "001_b23dfde50d28c48d.txt", folder)
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02PK\x03\x04" * 100)
    (folder / "empty.txt").write_text("")
    (folder / "latin1.txt").write_bytes("Le café a rouvert à Kyiv.".encode("latin-1"))
    (folder / "utf16.txt").write_bytes("Kyiv’s metro reopened on Monday.".encode("utf-16"))
    locked = folder / "locked.txt"
    locked.write_text("secret")
    locked.chmod(0)
    summary = ingest([folder, tmp_path / "missing.txt"], tmp_path / "index", embedder)
    messages = {Path(p.source).name: p.message for p in summary.problems}
    assert "binary" in messages["binary.txt"]
    assert "empty" in messages["empty.txt"]
    assert "no such file" in messages["missing.txt"]
    if os.geteuid() != 0:  # root reads any file regardless of its mode
        assert "permission denied" in messages["locked.txt"]
    snapshot = IndexSnapshot(tmp_path / "index")
    assert snapshot.document("001_b23dfde50d28c48d.txt") is not None
    latin = snapshot.document("latin1.txt")
    utf16 = snapshot.document("utf16.txt")
    assert latin is not None and "café" in latin.text
    assert utf16 is not None and utf16.text.startswith("Kyiv’s metro")


def test_failed_ingest_leaves_previous_index(
    tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "index"
    ingest([ARTICLES / "001_b23dfde50d28c48d.txt"], root, embedder)
    before = live_version(root)

    def explode(*_: object, **__: object) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("index.vectors.build_vector_index", explode)
    with pytest.raises(OSError):
        ingest([ARTICLES / "000_2a006b06e76cc382.txt"], root, embedder)
    assert live_version(root) == before
    assert not list(root.glob(".tmp-*"))
    snapshot = IndexSnapshot(root)
    assert snapshot.document("001_b23dfde50d28c48d.txt") is not None
    assert snapshot.document("000_2a006b06e76cc382.txt") is None
