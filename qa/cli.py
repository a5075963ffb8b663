"""The `qa` command: ingest articles, ask (one-shot or batch), chat, evaluate, serve."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from index import config

INDEX_HELP = "Index directory (default: $QA_INDEX or var/index)."


def _engine(index: str | None):  # noqa: ANN202 - imported lazily: torch takes seconds to load
    from qa.engine import Engine

    engine = Engine(config.index_dir(index))
    engine.snapshot  # noqa: B018 - load now so a broken index fails before any question
    return engine


class _Commands(click.Group):
    """Every command reports a missing or damaged index as one line, with exit code 1."""

    def invoke(self, ctx: click.Context) -> object:
        from index.store import IndexUnavailable

        try:
            return super().invoke(ctx)
        except IndexUnavailable as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Dateline: quoted, dated, cited answers from a collection of news articles."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--index", "index", default=None, help=INDEX_HELP)
@click.option("--rebuild", is_flag=True, help="Start a fresh index from these paths only.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option(
    "--ray",
    "ray_address",
    default=None,
    metavar="ADDRESS",
    help="Split and embed on the Ray cluster whose head is ADDRESS (host:port).",
)
def ingest(
    paths: tuple[Path, ...], index: str | None, rebuild: bool, quiet: bool, ray_address: str | None
) -> None:
    """Add articles (.txt/.md, .jsonl, .html files or folders) to the index.

    Unchanged files are skipped, changed ones replace their old chunks, and the index switches
    to the new state atomically, so a crash leaves the previous index usable.
    """
    from index.embedder import Embedder
    from index.ingest import ingest_paths

    root, files = config.index_dir(index), list(paths)
    try:
        if ray_address:
            from index.cluster import connect
            from index.ray_ingest import ingest_on_cluster

            connect(ray_address)
            summary = ingest_on_cluster(files, root, Embedder(), rebuild, progress=not quiet)
        else:
            summary = ingest_paths(files, root, Embedder(), rebuild, progress=not quiet)
    except OSError as exc:
        raise click.ClickException(f"ingest failed, the index is unchanged: {exc}") from exc
    for line in summary.lines():
        click.echo(line, err=line.startswith("  problem"))
    if summary.problems and not summary.documents_added and not summary.documents_unchanged:
        sys.exit(1)


def _ask_options(func):  # noqa: ANN001, ANN202 - click decorator stack
    func = click.option(
        "--top-k",
        default=5,
        show_default=True,
        type=click.IntRange(1, 50),
        help="Supporting passages to return.",
    )(func)
    func = click.option("--since", default=None, help="Only articles dated on or after (ISO).")(
        func
    )
    func = click.option("--until", default=None, help="Only articles dated on or before (ISO).")(
        func
    )
    func = click.option("--index", "index", default=None, help=INDEX_HELP)(func)
    return func


@main.command()
@click.argument("question", required=False)
@_ask_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per answer.")
def ask(
    question: str | None,
    top_k: int,
    since: str | None,
    until: str | None,
    index: str | None,
    as_json: bool,
) -> None:
    """Answer QUESTION; without it, answer one question per line of standard input."""
    from qa.engine import BadQuestion

    engine = _engine(index)
    questions = [question] if question is not None else (line.rstrip("\n") for line in sys.stdin)
    failed = False
    for text in questions:
        if question is None and not text.strip():
            continue
        try:
            response = engine.ask(text, top_k=top_k, since=since, until=until)
        except BadQuestion as exc:
            failed = True
            if as_json:
                click.echo(json.dumps({"question": text, "error": str(exc)}, ensure_ascii=False))
            else:
                click.echo(f"error: {exc}", err=True)
            continue
        if as_json:
            click.echo(response.model_dump_json())
        else:
            from qa.render import render

            click.echo(render(response, color=sys.stdout.isatty()))
            if question is None:
                click.echo()
    if failed and question is not None:
        sys.exit(2)


@main.command()
@_ask_options
def chat(top_k: int, since: str | None, until: str | None, index: str | None) -> None:
    """Ask questions interactively (empty line, Ctrl-D or 'quit' to leave)."""
    import uuid

    from qa.engine import BadQuestion
    from qa.render import render

    engine = _engine(index)
    session_id = uuid.uuid4().hex
    click.echo(
        'Ask about the articles; follow-ups like "and when was that?" use earlier turns. '
        "Empty line or Ctrl-D to leave."
    )
    while True:
        try:
            text = input("? ")
        except (EOFError, KeyboardInterrupt):
            click.echo()
            return
        if not text.strip() or text.strip().lower() in {"quit", "exit"}:
            return
        try:
            response = engine.ask(
                text, top_k=top_k, since=since, until=until, session_id=session_id
            )
            click.echo(render(response, color=sys.stdout.isatty()))
        except BadQuestion as exc:
            click.echo(f"error: {exc}", err=True)


@main.command(name="eval")
@click.argument("gold", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--index", "index", default=None, help=INDEX_HELP)
@click.option("--top-k", default=5, show_default=True, type=click.IntRange(1, 50))
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def evaluate(gold: Path, index: str | None, top_k: int, as_json: bool, quiet: bool) -> None:
    """Score answers to the gold questions in GOLD (JSONL like shared/eval/dev.jsonl)."""
    from tqdm import tqdm

    from qa.evaluate import EvalReport, load_gold

    try:
        questions = load_gold(gold)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    engine = _engine(index)
    report = EvalReport()
    started = time.perf_counter()
    for item in tqdm(questions, desc="eval", unit="q", disable=quiet):
        report.add(item, engine.ask(item.question, top_k=top_k))
    metrics = report.metrics()
    if as_json:
        click.echo(json.dumps({**metrics, "failures": report.failures}, ensure_ascii=False))
        return
    for failure in report.failures:
        click.echo(
            f"wrong {failure['id']}: {failure['question']}\n"
            f"   expected {failure['expected']}\n   got      {failure['got']}"
        )
    click.echo(f"{len(questions)} questions in {time.perf_counter() - started:.1f} s")
    click.echo(
        f"answer@1 {metrics['answer@1']:.3f}  citation@1 {metrics['citation@1']:.3f}  "
        f"recall@5 {metrics['recall@5']:.3f}  ({metrics['answerable']} answerable)"
    )
    click.echo(
        f"abstain accuracy {metrics['abstain_accuracy']:.3f} "
        f"({metrics['unanswerable']} without an answer)"
    )


@main.command()
@click.option("--index", "index", default=None, help=INDEX_HELP)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--ray",
    "ray_address",
    default=None,
    metavar="ADDRESS",
    help="Deploy with Ray Serve on the cluster whose head is ADDRESS (host:port); "
    "--host/--port are then those of Serve's proxy on the head node.",
)
@click.option(
    "--replicas",
    default=2,
    show_default=True,
    type=click.IntRange(1),
    help="With --ray: copies of the app, each loading the model and index once.",
)
@click.option(
    "--workers",
    default=config.env_int("QA_WORKERS", 1),
    show_default="$QA_WORKERS or 1",
    type=click.IntRange(1),
    help="Server processes sharing the port, for more answers per second on more cores; "
    "each loads the model and index and keeps its own chat sessions and rate limits.",
)
def serve(
    index: str | None, host: str, port: int, ray_address: str | None, replicas: int, workers: int
) -> None:
    """Serve the HTTP API and the chat widget's demo page."""
    if ray_address:
        from api import ray_serve

        try:
            url = ray_serve.start(ray_address, config.index_dir(index), replicas, host, port)
        except ConnectionError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"Dateline on {url} ({replicas} Ray Serve replicas; Ctrl-C takes them down)")
        ray_serve.wait_then_remove()
        return
    import uvicorn

    if workers > 1:
        import os

        from index.store import IndexSnapshot

        root = config.index_dir(index)
        IndexSnapshot(root).close()  # a broken index fails here, not in every worker
        os.environ["QA_INDEX"] = str(root.resolve())
        click.echo(f"Dateline on http://{host}:{port}/  ({workers} workers; API docs at /docs)")
        uvicorn.run(
            "api.app:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
        )
        return
    from api.app import create_app

    app = create_app(_engine(index))
    click.echo(f"Dateline on http://{host}:{port}/  (API docs at /docs)")
    uvicorn.run(app, host=host, port=port, log_level="info")


if __name__ == "__main__":
    main()
