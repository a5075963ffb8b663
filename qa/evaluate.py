"""Scoring answers against gold questions (the format of shared/eval/dev.jsonl)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qa.models import AskResponse

MAX_ANSWER_WORDS = 60


@dataclass(frozen=True)
class GoldQuestion:
    id: str
    question: str
    answers: list[str]
    docs: list[str]
    kind: str


def load_gold(path: Path) -> list[GoldQuestion]:
    """Gold questions; a malformed line is an error naming its line number."""
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            doc = record.get("doc")
            docs = [] if doc is None else [doc] if isinstance(doc, str) else list(doc)
            questions.append(
                GoldQuestion(
                    id=str(record.get("id", number)),
                    question=record["question"],
                    answers=list(record.get("answers") or []),
                    docs=docs,
                    kind=record.get("kind") or ("none" if not record.get("answers") else "fact"),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a gold question ({exc})") from exc
    return questions


def answer_correct(sentence: str | None, answers: Iterable[str]) -> bool:
    """A gold string inside the answer sentence, which is at most 60 words."""
    if not sentence or len(sentence.split()) > MAX_ANSWER_WORDS:
        return False
    lowered = sentence.lower()
    return any(answer.lower() in lowered for answer in answers)


def _doc_matches(doc_id: str, source: str, gold_docs: list[str]) -> bool:
    name = Path(source).name
    return any(gold in (doc_id, name) for gold in gold_docs)


@dataclass
class EvalReport:
    answerable: int = 0
    correct: int = 0
    cited: int = 0
    recalled: int = 0
    unanswerable: int = 0
    abstained: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)

    def add(self, gold: GoldQuestion, response: AskResponse) -> None:
        answer = response.answer
        if gold.kind == "none":
            self.unanswerable += 1
            if answer is None:
                self.abstained += 1
            else:
                self.failures.append(
                    {
                        "id": gold.id,
                        "question": gold.question,
                        "expected": "no answer",
                        "got": answer.text,
                    }
                )
            return
        self.answerable += 1
        ok = answer is not None and answer_correct(answer.text, gold.answers)
        self.correct += ok
        if answer is not None and _doc_matches(answer.doc_id, answer.source, gold.docs):
            self.cited += 1
        texts = [p.text for p in response.passages[:5]]
        if any(_contains(t, gold.answers) for t in texts):
            self.recalled += 1
        if not ok:
            self.failures.append(
                {
                    "id": gold.id,
                    "question": gold.question,
                    "expected": gold.answers,
                    "got": answer.text if answer else None,
                }
            )

    def metrics(self) -> dict[str, float]:
        def ratio(part: int, whole: int) -> float:
            return round(part / whole, 4) if whole else 0.0

        return {
            "answer@1": ratio(self.correct, self.answerable),
            "citation@1": ratio(self.cited, self.answerable),
            "recall@5": ratio(self.recalled, self.answerable),
            "abstain_accuracy": ratio(self.abstained, self.unanswerable),
            "answerable": self.answerable,
            "unanswerable": self.unanswerable,
        }


def _contains(text: str, answers: Iterable[str]) -> bool:
    lowered = text.lower()
    return any(a.lower() in lowered for a in answers)
