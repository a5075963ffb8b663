"""Readable terminal output of an answer: the quote, its article and date, the passages."""

from __future__ import annotations

import textwrap

import click

from qa.models import AskResponse, Citation


def describe_date(citation: Citation) -> str:
    if citation.date is None:
        return "undated"
    return f"{citation.date} (inferred)" if citation.date_source == "inferred" else citation.date


def _where(citation: Citation) -> str:
    title = citation.title or citation.doc_id
    return f"{title} — {describe_date(citation)} — {citation.source}"


def render(response: AskResponse, color: bool = True) -> str:
    style = click.style if color else (lambda text, **_: text)
    lines: list[str] = []
    answer = response.answer
    if response.window:
        w = response.window
        lines.append(
            style(
                f"Articles dated {w.since or '…'} to {w.until or '…'}"
                + (f' (from "{w.text}")' if w.text else ""),
                dim=True,
            )
        )
    if response.context:
        lines.append(style(f"Follow-up to: {response.context.question}", dim=True))
    if answer is None:
        lines.append(style("Not found in these articles.", fg="yellow", bold=True))
    else:
        quote = answer.text
        if answer.span:
            a, b = (
                answer.span.char_start - answer.char_start,
                answer.span.char_end - answer.char_start,
            )
            quote = quote[:a] + style(quote[a:b], bold=True, underline=True) + quote[b:]
        lines.append(style("“", fg="cyan") + quote + style("”", fg="cyan"))
        lines.append(
            style(f"  {_where(answer)}  [chars {answer.char_start}-{answer.char_end}]", fg="green")
        )
        for event in answer.event_dates:
            span = event.start if event.start == event.end else f"{event.start} to {event.end}"
            lines.append(style(f"  event date: “{event.text}” = {span}", fg="green"))
    if response.timeline:
        lines.append(style("Timeline:", bold=True))
        for item in response.timeline:
            lines.append(f"  {describe_date(item):>22}  “{item.text}”")
            lines.append(style(f"  {'':>22}  {item.title or item.doc_id}", dim=True))
    if response.passages:
        lines.append(style("Supporting passages:", bold=True))
    for rank, passage in enumerate(response.passages, start=1):
        text = passage.text
        if (
            answer
            and passage.doc_id == answer.doc_id
            and (passage.char_start <= answer.char_start and answer.char_end <= passage.char_end)
        ):
            a, b = answer.char_start - passage.char_start, answer.char_end - passage.char_start
            text = text[:a] + style(text[a:b], fg="cyan", bold=True) + text[b:]
        lines.append(style(f"[{rank}] {_where(passage)}", dim=True))
        lines.extend(
            textwrap.wrap(text, width=100, initial_indent="    ", subsequent_indent="    ")
        )
    return "\n".join(lines)
