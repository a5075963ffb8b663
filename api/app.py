"""The HTTP API (POST /ask and friends) and the chat widget's static files."""

from __future__ import annotations

import datetime as dt
import hmac
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.ratelimit import RateLimiter
from api.settings import ApiSettings
from index import config
from index.articles import MAX_ARTICLE_CHARS, Article
from index.store import IndexUnavailable, IndexWriteFailed
from qa.engine import BadQuestion, Engine
from qa.models import AskResponse

STATIC = Path(__file__).parent / "static"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'"
)
bearer = HTTPBearer(auto_error=False)


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, description="The question, in plain language")
    top_k: int = Field(5, ge=1, le=50, description="Supporting passages to return")
    since: dt.date | None = Field(None, description="Only articles dated on or after this day")
    until: dt.date | None = Field(None, description="Only articles dated on or before this day")
    session_id: str | None = Field(
        None,
        max_length=100,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="Keeps a conversation: follow-ups lean on earlier turns",
    )


class DocumentOut(BaseModel):
    doc_id: str
    title: str | None
    date: str | None
    date_source: str | None
    source: str
    url: str | None
    text: str


class DocumentSummary(BaseModel):
    doc_id: str
    title: str | None
    date: str | None
    date_source: str | None
    source: str


class DocumentPage(BaseModel):
    total: int
    offset: int
    limit: int
    documents: list[DocumentSummary]


class NewDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")
    text: str = Field(
        min_length=1, max_length=MAX_ARTICLE_CHARS, pattern=r"\S", description="The text, not blank"
    )
    title: str | None = Field(None, max_length=1000)
    date: dt.date | None = None
    url: str | None = Field(None, max_length=2000)


class NewDocuments(BaseModel):
    model_config = ConfigDict(extra="forbid")

    documents: list[NewDocument] = Field(min_length=1, max_length=1000)


class IngestResult(BaseModel):
    added: int
    unchanged: int
    chunks: int
    version: str | None


class Stats(BaseModel):
    documents: int
    chunks: int
    sentences: int
    model: str
    index_type: str
    index_version: str
    index_built_at: str


class BodyLimit:
    """Rejects request bodies over the limit with 413, reading no more than the limit.

    The body is read here, before the app sees it: an app already parsing a streamed body
    would report the overflow as its own 400.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.max_bytes <= 0:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _too_large(self.max_bytes)(scope, receive, send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await _too_large(self.max_bytes)(scope, receive, send)
                return
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse(
        {"detail": f"request body over {limit} bytes (QA_MAX_BODY_BYTES)"}, status_code=413
    )


def create_app(engine: Engine, settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings()
    limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_exempt)
    app = FastAPI(
        title="Dateline",
        summary="Quoted, dated, cited answers from a collection of news articles",
        version="0.1.0",
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_credentials=False,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type"],
            expose_headers=["Retry-After"],
        )
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if not request.url.path.startswith("/docs"):
            response.headers.setdefault("Content-Security-Policy", CSP)
        return response

    @app.exception_handler(IndexUnavailable)
    @app.exception_handler(IndexWriteFailed)
    async def index_unavailable(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    def require_admin(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        if settings.admin_token is None:
            raise HTTPException(403, "writing is disabled: set QA_ADMIN_TOKEN on the server")
        given = credentials.credentials if credentials else ""
        if not hmac.compare_digest(given.encode(), settings.admin_token.encode()):
            raise HTTPException(
                401,
                "a valid admin bearer token is required",
                headers={"WWW-Authenticate": "Bearer"},
            )

    @app.post(
        "/ask",
        response_model=AskResponse,
        tags=["answers"],
        responses={
            422: {"description": "Bad question or parameters"},
            429: {"description": "Too many questions from this client"},
        },
    )
    def ask(body: AskRequest, request: Request) -> AskResponse | JSONResponse:
        """Answer a question with a sentence quoted from the articles, or `answer: null`."""
        client = request.client.host if request.client else "unknown"
        wait = limiter.retry_after(client)
        if wait:
            return JSONResponse(
                {"detail": f"too many questions; try again in {wait} s"},
                status_code=429,
                headers={"Retry-After": str(wait)},
            )
        try:
            return engine.ask(
                body.question,
                top_k=body.top_k,
                since=body.since.isoformat() if body.since else None,
                until=body.until.isoformat() if body.until else None,
                session_id=body.session_id,
            )
        except BadQuestion as exc:
            raise HTTPException(422, str(exc)) from exc

    @app.get("/documents/{doc_id:path}", response_model=DocumentOut, tags=["documents"])
    def get_document(doc_id: str) -> DocumentOut:
        """One article in full, so a client can show a quote in its context."""
        row = engine.snapshot.document(doc_id)
        if row is None:
            raise HTTPException(404, f"no document {doc_id!r}")
        return DocumentOut(
            doc_id=row.doc_id,
            title=row.title,
            date=row.date,
            date_source=row.date_source,
            source=row.source,
            url=row.url,
            text=row.text,
        )

    @app.get("/documents", response_model=DocumentPage, tags=["documents"])
    def list_documents(
        offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> DocumentPage:
        """Articles, newest first."""
        total, rows = engine.snapshot.list_documents(offset, limit)
        return DocumentPage(
            total=total,
            offset=offset,
            limit=limit,
            documents=[
                DocumentSummary(
                    doc_id=r.doc_id,
                    title=r.title,
                    date=r.date,
                    date_source=r.date_source,
                    source=r.source,
                )
                for r in rows
            ],
        )

    @app.post(
        "/documents",
        response_model=IngestResult,
        tags=["documents"],
        dependencies=[Depends(require_admin)],
    )
    def add_documents(body: NewDocuments) -> IngestResult:
        """Add or replace articles (admin bearer token); answers use them at once."""
        from index.ingest import ingest_articles

        articles = [
            Article(
                doc_id=d.id,
                source="api",
                text=d.text,
                title=d.title,
                date=d.date.isoformat() if d.date else None,
                date_source="metadata" if d.date else None,
                url=d.url,
            )
            for d in body.documents
        ]
        summary = ingest_articles(articles, engine.index_root, engine.embedder)
        return IngestResult(
            added=summary.documents_added,
            unchanged=summary.documents_unchanged,
            chunks=summary.chunks_added,
            version=summary.version,
        )

    @app.delete(
        "/documents/{doc_id:path}",
        tags=["documents"],
        status_code=204,
        dependencies=[Depends(require_admin)],
    )
    def delete_document(doc_id: str) -> Response:
        """Remove an article (admin bearer token)."""
        from index.ingest import delete_documents

        if not delete_documents([doc_id], engine.index_root, engine.embedder):
            raise HTTPException(404, f"no document {doc_id!r}")
        return Response(status_code=204)

    @app.get("/healthz", tags=["service"])
    def healthz() -> dict[str, str]:
        return {"status": "ok", "index_version": engine.snapshot.version}

    @app.get("/stats", response_model=Stats, tags=["service"])
    def stats() -> Stats:
        manifest = engine.snapshot.manifest
        return Stats(
            documents=manifest["documents"],
            chunks=manifest["chunks"],
            sentences=manifest["sentences"],
            model=manifest["model"],
            index_type=manifest["index_type"],
            index_version=manifest["version"],
            index_built_at=manifest["built_at"],
        )

    def static(name: str, media_type: str) -> FileResponse:
        if not (STATIC / name).is_file():  # a listed page the build did not ship
            raise HTTPException(404, "not found")
        return FileResponse(
            STATIC / name, media_type=media_type, headers={"Cache-Control": "no-cache"}
        )

    @app.get("/", include_in_schema=False)
    def demo_page() -> FileResponse:
        return static("index.html", "text/html; charset=utf-8")

    @app.get("/widget.js", include_in_schema=False)
    def widget_js() -> FileResponse:
        return static("widget.js", "text/javascript; charset=utf-8")

    @app.get("/{name}.css", include_in_schema=False)
    def stylesheet(name: str) -> FileResponse:
        if name not in {"widget", "demo"}:
            raise HTTPException(404, "not found")
        return static(f"{name}.css", "text/css; charset=utf-8")

    return app


def app_from_environment() -> FastAPI:
    """The app of one `qa serve --workers N` process: each worker loads its own engine from
    QA_INDEX (uvicorn can only start workers from an import string)."""
    return create_app(Engine(config.index_dir()))
