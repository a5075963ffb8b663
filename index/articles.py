"""Reading articles from .txt/.md, .jsonl and .html files into `Article`s, reporting bad input."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from index import config
from index.dates import infer_article_date, parse_date_line

TEXT_SUFFIXES = {".txt", ".md"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | {".jsonl", ".html", ".htm"}
_HEADLINE_MAX_WORDS = 25
# A longer "article" is a dump, not news: it would hold the index lock for many minutes.
MAX_ARTICLE_CHARS = config.env_int("QA_MAX_ARTICLE_CHARS", 1_000_000)


@dataclass(frozen=True)
class Article:
    """One article; `text` is what offsets point into (a .txt file's content exactly)."""

    doc_id: str
    source: str
    text: str
    body_start: int = 0
    title: str | None = None
    date: str | None = None
    date_source: str | None = None
    url: str | None = None

    @property
    def content_hash(self) -> str:
        meta = json.dumps([self.title, self.date, self.url], ensure_ascii=False)
        return hashlib.sha256((meta + "\0" + self.text).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Problem:
    """Input that could not be ingested (or only partly), with where and what to do."""

    source: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: {self.message}"


def discover(paths: Iterable[str | Path]) -> tuple[list[Path], list[Problem]]:
    """Expand folders into the supported files below them, sorted for a stable order."""
    files: list[Path] = []
    problems: list[Problem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
            )
        elif path.is_file():
            if path.suffix.lower() in SUPPORTED_SUFFIXES:
                files.append(path)
            else:
                problems.append(
                    Problem(
                        str(path),
                        f"unsupported file type {path.suffix!r}; use .txt, .md, .jsonl or .html",
                    )
                )
        else:
            problems.append(Problem(str(path), "no such file or folder"))
    return files, problems


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with a BOM; anything else is not text for us."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\x00" in data:
        raise ValueError("binary file (NUL bytes); give UTF-8 text")
    try:
        return data.decode("utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8")
    except UnicodeDecodeError as exc:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            raise ValueError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        return text


def read_source(path: Path) -> bytes:
    size = path.stat().st_size
    if size > config.MAX_FILE_BYTES:
        raise ValueError(
            f"file is {size / 1e6:.1f} MB, over the {config.MAX_FILE_BYTES / 1e6:.0f} MB limit; "
            "split it or raise QA_MAX_FILE_BYTES"
        )
    return path.read_bytes()


def parse_file(path: Path, data: bytes, doc_id_prefix: str) -> Iterator[Article | Problem]:
    """Articles (and problems) in one file's bytes."""
    suffix = path.suffix.lower()
    try:
        text = decode(data)
    except ValueError as exc:
        yield Problem(str(path), str(exc))
        return
    if not text.strip():
        yield Problem(str(path), "empty file")
        return
    if suffix in TEXT_SUFFIXES:
        yield from _text_article(path, text, doc_id_prefix + path.name)
    elif suffix == ".jsonl":
        yield from _jsonl_articles(path, text, doc_id_prefix)
    else:
        yield from _html_article(path, text, doc_id_prefix + path.name)


def _with_date(article: Article) -> Article:
    """Fill a missing date from the article's own words, marked as inferred."""
    if article.date:
        return article
    inferred = infer_article_date(article.text[article.body_start :])
    if inferred is None:
        return article
    return Article(**{**article.__dict__, "date": inferred.isoformat(), "date_source": "inferred"})


def _looks_like_headline(line: str) -> bool:
    words = line.split()
    return 0 < len(words) <= _HEADLINE_MAX_WORDS and not re.search(r"[.!?:;,\"”’]\s*$", line)


def _too_long(text: str) -> str | None:
    if len(text) <= MAX_ARTICLE_CHARS:
        return None
    return (
        f"article is {len(text):,} characters, over the {MAX_ARTICLE_CHARS:,} limit; "
        "split it or raise QA_MAX_ARTICLE_CHARS"
    )


def _text_article(path: Path, text: str, doc_id: str) -> Iterator[Article | Problem]:
    if too_long := _too_long(text):
        yield Problem(str(path), too_long)
        return
    first_line_end = text.find("\n")
    first_line = text if first_line_end < 0 else text[:first_line_end]
    body_start = 0
    article_date: date | None = None
    if first_line.lstrip().startswith("date "):
        parsed = parse_date_line(first_line)
        if parsed is None:
            yield Problem(
                str(path),
                "impossible or malformed date line; the date is inferred from the text instead",
                line=1,
            )
            body_start = len(first_line) - len(first_line.lstrip()) + len("date ")
            match = re.match(r"\s*date\s+\S+\s*", first_line)
            body_start = match.end() if match else body_start
        else:
            article_date, body_start = parsed
    headline = first_line[body_start:].strip()
    title = headline if _looks_like_headline(headline) else None
    yield _with_date(
        Article(
            doc_id=doc_id,
            source=str(path),
            text=text,
            body_start=body_start,
            title=title,
            date=article_date.isoformat() if article_date else None,
            date_source="metadata" if article_date else None,
        )
    )


def _jsonl_articles(path: Path, text: str, doc_id_prefix: str) -> Iterator[Article | Problem]:
    # Only "\n" ends a JSON Lines record; U+2028 and friends may sit inside its strings.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError) as exc:  # also over-long numbers, deep nesting
            detail = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            yield Problem(str(path), f"malformed JSON ({detail}); line skipped", line=number)
            continue
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            yield Problem(
                str(path), 'needs an object with a "text" string; line skipped', line=number
            )
            continue
        if not record["text"].strip():
            yield Problem(str(path), "empty text; line skipped", line=number)
            continue
        if too_long := _too_long(record["text"]):
            yield Problem(str(path), f"{too_long}; line skipped", line=number)
            continue
        raw_date = record.get("date")
        article_date = _iso_date(raw_date)
        if raw_date and article_date is None:
            yield Problem(
                str(path),
                f"unreadable date {raw_date!r}; inferred from the text instead",
                line=number,
            )
        has_id = record.get("id") not in (None, "")
        doc_id = str(record["id"]) if has_id else f"{path.name}:{number}"
        yield _from_fields(doc_id_prefix + doc_id, path, record["text"], record, article_date)


def _html_article(path: Path, html: str, doc_id: str) -> Iterator[Article | Problem]:
    import trafilatura

    document = trafilatura.bare_extraction(html, with_metadata=True, include_comments=False)
    extracted = (
        document.as_dict() if document is not None and not isinstance(document, dict) else document
    )
    if not isinstance(extracted, dict) or not (extracted.get("text") or "").strip():
        yield Problem(str(path), "no article text found in this HTML page")
        return
    if too_long := _too_long(extracted["text"]):
        yield Problem(str(path), too_long)
        return
    article_date = _iso_date(extracted.get("date"))
    yield _from_fields(doc_id, path, extracted["text"], extracted, article_date)


def _from_fields(
    doc_id: str, path: Path, text: str, fields: dict[str, Any], article_date: str | None
) -> Article:
    """An article whose title and url come with it (JSONL record, HTML metadata)."""
    return _with_date(
        Article(
            doc_id=doc_id,
            source=str(path),
            text=text,
            title=_clean_str(fields.get("title")),
            date=article_date,
            date_source="metadata" if article_date else None,
            url=_clean_str(fields.get("url")),
        )
    )


def _clean_str(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _iso_date(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip()[:10]).isoformat()
    except ValueError:
        return None
