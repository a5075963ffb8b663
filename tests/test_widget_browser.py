"""Browser tests of the chat widget (api/static/widget.js) and the demo page, in headless Chromium.

They drive Debian's /usr/bin/chromium (installed by `make browser`) through Playwright against the
real server from the `live_server` fixture (tests/conftest.py): the real model over the sample
articles plus the hostile article `hostile.txt`. A few tests replace `/ask` with canned replies
(page.route) to cover what the sample articles cannot produce on demand: errors, a timeline,
a follow-up and characters outside the BMP.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("DATELINE_CHROMIUM", "/usr/bin/chromium")
if not Path(CHROMIUM).exists():
    pytest.skip(
        f"{CHROMIUM} is missing: install Debian chromium (`make browser`) to run the widget tests",
        allow_module_level=True,
    )
playwright_sync = pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright  # noqa: E402

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
WIDGET_JS = ROOT / "api" / "static" / "widget.js"
ANSWER_TIMEOUT_MS = 90_000  # the first question may wait for the model
UI_TIMEOUT_MS = 5_000

BAIKONUR_Q = "Where is the Baikonur Cosmodrome located?"
BAIKONUR_DOC = "000_2a006b06e76cc382.txt"
NO_ANSWER_Q = "Who won the 2022 FIFA World Cup?"
HOSTILE_Q = "Where was the Zorblax festival held?"
HOSTILE_MARKUP = "<img src=x onerror=alert(1)>"

# Fires in the page before any of its scripts; CDP-injected, so the page's CSP does not apply.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(e.violatedDirective + ' ' + (e.blockedURI || ''));
});
"""


# ---- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Widget:
    """One page with the widget, plus what the page reported while the test ran."""

    page: Page
    base: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    @property
    def host(self) -> Locator:
        return self.page.locator("dateline-widget")

    @property
    def launcher(self) -> Locator:
        return self.host.locator("button.launcher")

    @property
    def panel(self) -> Locator:
        return self.host.locator("[role=dialog]")

    @property
    def input(self) -> Locator:
        return self.host.locator("form input")

    @property
    def live(self) -> Locator:
        return self.host.locator("[aria-live=polite]")

    @property
    def last_turn(self) -> Locator:
        return self.host.locator(".turn").last

    def goto(self, path: str = "/") -> Any:
        response = self.page.goto(self.base + path)
        expect(self.launcher).to_be_visible(timeout=UI_TIMEOUT_MS)
        return response

    def open(self) -> None:
        self.launcher.click()
        expect(self.panel).to_be_visible(timeout=UI_TIMEOUT_MS)

    def ask(self, question: str, submit: str = "click") -> tuple[Locator, dict[str, Any] | None]:
        """Ask through the UI; return the reply bubble and the /ask JSON (None if not JSON)."""
        self.input.fill(question)
        with self.page.expect_response(
            lambda r: r.url.endswith("/ask") and r.request.method == "POST",
            timeout=ANSWER_TIMEOUT_MS,
        ) as info:
            if submit == "enter":
                self.input.press("Enter")
            else:
                self.host.get_by_role("button", name="Send question").click()
        reply = self.reply()
        try:
            data = info.value.json()
        except Exception:
            data = None
        return reply, data

    def reply(self) -> Locator:
        turn = self.last_turn
        bubble = turn.locator(".a:not(.pending)")
        expect(bubble).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
        return bubble

    def csp_violations(self) -> list[str]:
        recorded = self.page.evaluate("window.__cspViolations || []")
        return list(recorded) + [m for m in self.console_errors if "Content Security Policy" in m]

    def shadow_eval(self, expression: str) -> Any:
        """Evaluate `expression` with `root` bound to the widget's shadow root."""
        return self.page.evaluate(
            f"(() => {{ const root = document.querySelector('dateline-widget').shadowRoot;"
            f" return {expression}; }})()"
        )


def _new_widget(browser: Browser, base: str, **context_args: Any) -> Widget:
    context = browser.new_context(**context_args)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.add_init_script(RECORD_CSP_VIOLATIONS)
    w = Widget(page=page, base=base)
    page.on("console", lambda m: w.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: w.page_errors.append(str(e)))

    def on_dialog(dialog: Any) -> None:
        w.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return w


@pytest.fixture
def widget_factory(chromium: Browser, live_server: str) -> Iterator[Any]:
    """Make widget pages; on teardown check none hit a CSP violation or a script error."""
    made: list[Widget] = []

    def make(**context_args: Any) -> Widget:
        w = _new_widget(chromium, live_server.rstrip("/"), **context_args)
        made.append(w)
        return w

    yield make
    problems = []
    for w in made:
        if not w.page.is_closed():
            problems += [f"CSP: {v}" for v in w.csp_violations()]
        problems += [f"page error: {e}" for e in w.page_errors]
        problems += [f"dialog: {d}" for d in w.dialogs]
        w.page.context.close()
    assert not problems, problems


@pytest.fixture
def widget(widget_factory: Any) -> Widget:
    return widget_factory(viewport={"width": 1280, "height": 800})


def _article_name(item: dict[str, Any]) -> str:
    return item.get("title") or item["doc_id"]


def _screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


# ---- against the real server ----------------------------------------------------------------


def test_answer_shows_quote_source_date_and_passage(widget: Widget) -> None:
    widget.goto("/")
    widget.open()
    expect(widget.input).to_be_focused()
    reply, data = widget.ask(BAIKONUR_Q)

    assert data is not None and data["answer"] is not None, data
    answer = data["answer"]
    assert answer["doc_id"] == BAIKONUR_DOC
    assert answer["date_source"] == "inferred" and answer["date"]
    quote = reply.locator("blockquote")
    expect(quote).to_contain_text("southern Kazakhstan")
    assert quote.text_content() == answer["text"]
    if answer.get("span"):
        expect(quote.locator("mark")).to_have_count(1)
        assert quote.locator("mark").text_content() == answer["span"]["text"]

    meta = reply.locator(".meta")
    expect(meta).to_contain_text(_article_name(answer))
    expect(meta).to_contain_text(f"{answer['date']} (inferred)")

    toggle = reply.get_by_role("button", name="Show passage")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    passage = reply.locator(".passage")
    expect(passage).to_be_hidden()
    toggle.click()
    expect(reply.get_by_role("button", name="Hide passage")).to_have_attribute(
        "aria-expanded", "true"
    )
    expect(passage).to_be_visible()
    expect(passage).to_contain_text("southern Kazakhstan")
    mark = passage.locator("mark")
    expect(mark).to_have_count(1)
    expect(mark).to_be_visible()
    assert mark.text_content() == answer["text"]

    _screenshot(widget.page, "widget-answer.png")


def test_question_without_answer_says_not_found(widget: Widget) -> None:
    widget.goto("/")
    widget.open()
    reply, data = widget.ask(NO_ANSWER_Q)
    assert data is not None and data["answer"] is None, data
    expect(reply).to_contain_text("Not found in these articles")
    expect(reply.locator("blockquote")).to_have_count(0)
    expect(widget.live).to_contain_text("Not found in these articles")


def test_hostile_article_text_is_shown_as_text(widget: Widget) -> None:
    widget.goto("/")
    widget.open()
    reply, data = widget.ask(HOSTILE_Q)
    assert data is not None and data["answer"] is not None, data
    assert data["answer"]["doc_id"] == "hostile.txt"

    expect(reply.locator("blockquote")).to_contain_text(HOSTILE_MARKUP)
    expect(reply.locator("blockquote")).to_contain_text("<script>window.__pwned=1</script>")
    expect(reply.locator(".meta")).to_contain_text(f"Hostile {HOSTILE_MARKUP} test")
    reply.get_by_role("button", name="Show passage").click()
    expect(reply.locator(".passage")).to_contain_text(HOSTILE_MARKUP)
    expect(reply.get_by_text(HOSTILE_MARKUP).first).to_be_visible()

    assert widget.shadow_eval("root.querySelectorAll('.log img, .log script').length") == 0
    assert widget.shadow_eval("root.querySelectorAll('img, script, iframe, object').length") == 0
    assert widget.page.evaluate("document.querySelectorAll('img').length") == 0
    widget.page.wait_for_timeout(300)  # give an injected onerror/script a chance to fire
    assert widget.page.evaluate("typeof window.__pwned") == "undefined"
    assert widget.dialogs == []


def _focus_is_on_launcher(w: Widget) -> bool:
    return bool(
        w.page.evaluate(
            """() => {
              const a = document.activeElement;
              return !!a && a.localName === 'dateline-widget' && !!a.shadowRoot.activeElement
                && a.shadowRoot.activeElement.classList.contains('launcher');
            }"""
        )
    )


def test_keyboard_only(widget: Widget) -> None:
    widget.goto("/")
    page = widget.page
    for _ in range(40):
        page.keyboard.press("Tab")
        if _focus_is_on_launcher(widget):
            break
    else:
        pytest.fail("Tab never reached the widget's launcher button")
    expect(widget.launcher).to_have_attribute("aria-expanded", "false")
    expect(widget.launcher).to_have_accessible_name("Ask the archive")

    page.keyboard.press("Enter")
    expect(widget.panel).to_be_visible()
    expect(widget.panel).to_have_attribute("aria-label", "Ask the archive")
    expect(widget.input).to_be_focused()
    assert widget.shadow_eval("root.activeElement && root.activeElement.localName") == "input"

    with page.expect_response(lambda r: r.url.endswith("/ask"), timeout=ANSWER_TIMEOUT_MS) as info:
        page.keyboard.type(BAIKONUR_Q)
        page.keyboard.press("Enter")
    data = info.value.json()
    assert data["answer"] is not None, data
    reply = widget.reply()
    expect(reply).to_contain_text("southern Kazakhstan")
    expect(widget.live).to_contain_text(data["answer"]["text"])
    expect(widget.input).to_be_focused()

    page.keyboard.press("Escape")
    expect(widget.panel).to_be_hidden()
    assert _focus_is_on_launcher(widget)
    expect(widget.launcher).to_have_attribute("aria-expanded", "false")

    page.keyboard.press("Space")  # Space opens too, and the conversation is still there
    expect(widget.panel).to_be_visible()
    expect(widget.input).to_be_focused()
    expect(widget.host.locator(".turn")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(widget.panel).to_be_hidden()
    assert _focus_is_on_launcher(widget)


def test_narrow_phone_viewport(widget_factory: Any) -> None:
    w = widget_factory(viewport={"width": 360, "height": 740}, has_touch=True, is_mobile=True)
    w.goto("/")
    w.open()
    box = w.panel.bounding_box()
    assert box is not None
    assert box["width"] <= 360 and box["x"] >= 0, box
    assert box["height"] >= 0.9 * 740, box
    expect(w.input).to_be_in_viewport()
    reply, data = w.ask(BAIKONUR_Q)
    expect(reply).to_be_in_viewport(ratio=0.5)
    reply_box = reply.bounding_box()
    assert reply_box is not None and reply_box["x"] + reply_box["width"] <= 360
    _screenshot(w.page, "widget-mobile.png")
    w.page.keyboard.press("Escape")
    expect(w.launcher).to_be_visible()


def test_csp_header_and_no_csp_violations(widget: Widget) -> None:
    response = widget.goto("/")
    csp = response.headers.get("content-security-policy")
    assert csp, "the demo page must be served with a Content-Security-Policy header"
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp

    # The styles (a constructable stylesheet) apply despite style-src 'self'.
    expect(widget.launcher).to_have_css("position", "fixed")
    expect(widget.launcher).to_have_css("border-radius", "50%")
    widget.open()
    reply, data = widget.ask(BAIKONUR_Q, submit="enter")
    reply.get_by_role("button", name="Show passage").click()
    expect(reply.locator(".passage mark")).to_have_css("background-color", "rgb(253, 230, 138)")
    widget.page.wait_for_timeout(200)
    assert widget.csp_violations() == []
    assert not [m for m in widget.console_errors if "Content Security Policy" in m]


def test_session_id_is_sent_and_kept(widget: Widget) -> None:
    sent: list[dict[str, Any]] = []
    widget.page.on(
        "request",
        lambda r: sent.append(json.loads(r.post_data or "{}")) if r.url.endswith("/ask") else None,
    )
    widget.goto("/")
    widget.open()
    widget.ask(BAIKONUR_Q)
    widget.ask("When was it leased?")
    assert [s["question"] for s in sent] == [BAIKONUR_Q, "When was it leased?"]
    session_ids = {s["session_id"] for s in sent}
    assert len(session_ids) == 1 and all(isinstance(s, str) and s for s in session_ids), sent


def test_demo_page_example_buttons_ask(widget: Widget) -> None:
    widget.goto("/")
    expect(widget.page.get_by_role("heading", name="Dateline demo")).to_be_visible()
    with widget.page.expect_response(lambda r: r.url.endswith("/ask"), timeout=ANSWER_TIMEOUT_MS):
        widget.page.get_by_role("button", name=BAIKONUR_Q).click()
    expect(widget.panel).to_be_visible()
    expect(widget.last_turn.locator(".q")).to_have_text(BAIKONUR_Q)
    expect(widget.reply()).to_contain_text("southern Kazakhstan")


# ---- canned /ask replies (page.route) ---------------------------------------------------------


def _fulfill_json(route: Any, body: Any, status: int = 200, headers: dict | None = None) -> None:
    route.fulfill(
        status=status,
        content_type="application/json",
        headers=headers or {},
        body=json.dumps(body),
    )


def test_http_errors_are_readable(widget: Widget) -> None:
    replies = iter(
        [
            lambda r: _fulfill_json(r, {"detail": "Rate limit"}, 429, {"Retry-After": "7"}),
            lambda r: _fulfill_json(r, {"detail": "Index not loaded"}, 503),
            lambda r: _fulfill_json(
                r,
                {"detail": [{"loc": ["body", "question"], "msg": "String too long", "type": "x"}]},
                422,
            ),
            lambda r: r.abort("connectionrefused"),
        ]
    )
    widget.page.route("**/ask", lambda route: next(replies)(route))
    widget.goto("/")
    widget.open()

    reply, _ = widget.ask("first")
    expect(reply).to_have_text("Too many questions, try again in 7 seconds.")
    expect(widget.live).to_contain_text("Too many questions, try again in 7 seconds")
    reply, _ = widget.ask("second")
    expect(reply).to_contain_text("Index not loaded")
    expect(reply).to_contain_text("503")
    reply, _ = widget.ask("third")
    expect(reply).to_contain_text("question: String too long")
    widget.input.fill("fourth")
    widget.input.press("Enter")
    expect(widget.reply()).to_contain_text("Could not reach the archive")
    expect(widget.host.locator(".a.error")).to_have_count(4)
    # console errors for the failed requests are expected here; CSP ones are not
    widget.console_errors.clear()


def _cite(doc_id: str, article: str, start: int, end: int, **extra: Any) -> dict[str, Any]:
    return {
        "doc_id": doc_id,
        "source": f"data/articles/{doc_id}",
        "title": extra.pop("title", f"Title of {doc_id}"),
        "date": extra.pop("date", "2022-06-26"),
        "date_source": extra.pop("date_source", "metadata"),
        "text": article[start:end],
        "char_start": start,
        "char_end": end,
        "score": 0.5,
        **extra,
    }


def test_timeline_follow_up_and_astral_offsets(widget: Widget) -> None:
    # Python offsets count code points; the emoji before the quote is 2 UTF-16 units in JS.
    article = (
        "Intro 🚀🛰 line.\nBombers 🚀 struck Kyiv on June 25 from Belarus.\nMore text 🙂 here.\n"
    )
    sentence = "Bombers 🚀 struck Kyiv on June 25 from Belarus."
    a0 = article.index(sentence)
    answer = _cite("war.txt", article, a0, a0 + len(sentence), title="War <b>log</b>")
    s0 = article.index("Kyiv")
    answer["span"] = {"text": "Kyiv", "char_start": s0, "char_end": s0 + 4}
    e0 = article.index("June 25")
    answer["event_dates"] = [
        {
            "text": "June 25",
            "char_start": e0,
            "char_end": e0 + 7,
            "start": "2022-06-25",
            "end": "2022-06-25",
        }
    ]
    other = _cite(
        "other.txt", "Other article text.", 0, 19, title=None, date=None, date_source=None
    )
    passage = _cite("war.txt", article, 6, len(article) - 1)
    timeline = [
        _cite("a.txt", "First 🙂 thing happened.", 0, 24, date="2022-06-01"),
        _cite("b.txt", "Then the second thing.", 0, 22, date="2022-06-20", date_source="inferred"),
        {**answer, "span": None, "event_dates": None},
    ]
    for item in timeline:
        item.pop("span", None)
        item.pop("event_dates", None)
    body = {
        "question": "And then?",
        "answer": answer,
        "passages": [other, passage],
        "timeline": timeline,
        "window": {"since": "2022-06-01", "until": "2022-06-30", "text": "in June 2022"},
        "session_id": "s-1",
        "context": {"turn": 1, "question": "What happened in Kyiv in June 2022?"},
    }
    widget.page.route("**/ask", lambda route: _fulfill_json(route, body))
    widget.goto("/")
    widget.open()
    reply, _ = widget.ask("And then?")

    expect(reply.locator(".context")).to_have_text(
        "Follow-up to: What happened in Kyiv in June 2022?"
    )
    assert reply.locator("blockquote").text_content() == sentence
    assert reply.locator("blockquote mark").text_content() == "Kyiv"
    expect(reply.locator(".meta")).to_contain_text("War <b>log</b>")
    expect(reply.locator(".meta")).to_contain_text("2022-06-26")
    expect(reply.locator(".meta")).not_to_contain_text("inferred")
    expect(reply).to_contain_text("Event date: 2022-06-25")

    reply.get_by_role("button", name="Show passage").click()
    assert reply.locator(".passage mark").text_content() == sentence
    expect(reply.locator(".passage")).to_contain_text("More text 🙂 here.")

    items = reply.locator(".timeline li")
    expect(items).to_have_count(3)
    expect(items.nth(0)).to_contain_text("2022-06-01")
    expect(items.nth(0)).to_contain_text("First 🙂 thing happened.")
    expect(items.nth(1)).to_contain_text("2022-06-20 (inferred)")
    expect(items.nth(2)).to_contain_text(sentence)
    expect(items.nth(2)).to_contain_text("War <b>log</b>")
    assert widget.shadow_eval("root.querySelectorAll('.log b').length") == 0
    _screenshot(widget.page, "widget-timeline.png")


def test_undated_answer_and_host_page_css_cannot_break_it(widget: Widget) -> None:
    """Embedded cross-origin on a page with aggressive CSS: still drawn, styled and usable."""
    host_page = """<!doctype html><html><head><style>
      * { font-size: 40px !important; color: red !important; display: block; }
      button { display: none !important; } div { position: static !important; }
      dateline-widget { font-family: monospace; }
      </style></head><body><p>Host page</p>
      <script src="http://cdn.example.test/widget.js" data-endpoint="http://api.example.test/qa/"
              data-title="Ask the paper" async></script></body></html>"""
    article = "Undated sentence here."
    answer = _cite("u.txt", article, 0, len(article), date=None, date_source=None, title=None)
    answer.update(span=None, event_dates=[])
    body = {"question": "q", "answer": answer, "passages": [], "timeline": []}
    page = widget.page
    page.route(
        "http://host.example.test/",
        lambda route: route.fulfill(status=200, content_type="text/html", body=host_page),
    )
    asked: list[str] = []

    def api(route: Any) -> None:
        asked.append(route.request.url)
        if route.request.method == "OPTIONS":
            route.fulfill(
                status=204,
                headers={
                    "Access-Control-Allow-Origin": "*",
                    "Access-Control-Allow-Headers": "content-type",
                    "Access-Control-Allow-Methods": "POST",
                },
            )
        else:
            _fulfill_json(route, body, headers={"Access-Control-Allow-Origin": "*"})

    page.route("http://api.example.test/**", api)
    page.route(
        "http://cdn.example.test/widget.js",
        lambda route: route.fulfill(
            status=200, content_type="text/javascript", body=WIDGET_JS.read_text(encoding="utf-8")
        ),
    )
    page.goto("http://host.example.test/")
    expect(widget.launcher).to_be_visible()
    expect(widget.launcher).to_have_accessible_name("Ask the paper")
    box = widget.launcher.bounding_box()
    assert box is not None and 50 <= box["width"] <= 70, box
    assert box["x"] > 1280 - 120 and box["y"] > 800 - 120, box  # bottom-right corner
    widget.open()
    panel = widget.panel.bounding_box()
    assert panel is not None and 360 <= panel["width"] <= 400 and 500 <= panel["height"] <= 580
    expect(widget.host.locator(".title")).to_have_text("Ask the paper")
    expect(widget.input).to_have_css("font-size", "15px")
    reply = widget.ask("Anything undated?")[0]
    assert asked and asked[-1] == "http://api.example.test/qa/ask"
    expect(reply.locator(".meta")).to_contain_text("undated")
    expect(reply.locator(".meta")).to_contain_text("u.txt")
    expect(reply.get_by_role("button", name="Show passage")).to_have_count(0)
