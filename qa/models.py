"""The answer schema: one set of pydantic models shared by the CLI (`--json`) and the HTTP API."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Citation(BaseModel):
    """Where a quoted piece of text lives: `text == article_text[char_start:char_end]`."""

    doc_id: str
    source: str
    title: str | None
    date: str | None = Field(description="Article date, ISO YYYY-MM-DD, or null when unknown")
    date_source: str | None = Field(
        description='"metadata" (given with the article), "inferred" (from its text) or null'
    )
    text: str
    char_start: int
    char_end: int
    score: float


class Span(BaseModel):
    """The shortest part of the answer sentence that answers, as offsets into the article."""

    text: str
    char_start: int
    char_end: int


class EventDate(BaseModel):
    """A date expression inside the answer sentence, resolved against the article's date."""

    text: str
    char_start: int
    char_end: int
    start: str = Field(description="ISO date the expression starts at")
    end: str = Field(description="ISO date it ends at (equal to start for a single day)")


class Answer(Citation):
    """The single quoted sentence that answers the question."""

    span: Span | None = None
    event_dates: list[EventDate] = []


class Passage(Citation):
    """A supporting passage (chunk) of an article; `score` is its retrieval score (reciprocal
    rank fusion), while the list runs by support: the answer's passage first."""


class DateWindow(BaseModel):
    """The article-date window applied to a question (from `since`/`until` or its own words)."""

    since: str | None
    until: str | None
    text: str | None = Field(None, description="The words of the question that set it, if any")


class TurnRef(BaseModel):
    """The earlier turn of a conversation a follow-up question leaned on."""

    turn: int
    question: str


class AskResponse(BaseModel):
    question: str
    answer: Answer | None
    passages: list[Passage]
    timeline: list[Citation] = Field(
        [], description="For questions about how something developed: one sentence per date"
    )
    window: DateWindow | None = None
    session_id: str | None = None
    context: TurnRef | None = None
