/*
 * Dateline chat widget: ask questions about a news archive, get quoted, dated, cited answers.
 *
 * Embed with one tag:
 *   <script src="https://HOST/widget.js" data-endpoint="https://HOST"
 *           data-title="Ask the archive" async></script>
 *
 * data-endpoint defaults to the origin widget.js was loaded from. Everything the widget draws
 * lives in an open shadow root on a single <dateline-widget> element, with its styles in a
 * constructable stylesheet (so a page CSP of `style-src 'self'` does not block them).
 * Elements with a `data-dateline-ask` attribute (value or text = the question) open the widget
 * and ask that question when clicked.
 *
 * Security: article and question text is only ever inserted as text (textContent /
 * createTextNode), never parsed as HTML.
 */
(function () {
  "use strict";

  var HOST_TAG = "dateline-widget";
  var REQUEST_TIMEOUT_MS = 90000;
  var MAX_QUESTION_LENGTH = 1000;

  if (typeof document === "undefined" || document.querySelector(HOST_TAG)) {
    return; // not in a browser, or already embedded once on this page
  }

  // ---- configuration from the <script> tag ---------------------------------------------------

  var script = document.currentScript;
  if (!script) {
    var candidates = document.querySelectorAll("script[src]");
    for (var i = candidates.length - 1; i >= 0; i--) {
      if (/(^|\/)widget\.js(\?|#|$)/.test(candidates[i].getAttribute("src"))) {
        script = candidates[i];
        break;
      }
    }
  }
  var scriptUrl = script && script.src ? script.src : document.baseURI;
  var endpoint = resolveEndpoint(script && script.getAttribute("data-endpoint"), scriptUrl);
  var title = ((script && script.getAttribute("data-title")) || "").trim() || "Ask the archive";

  function resolveEndpoint(value, base) {
    try {
      var url = new URL(value && value.trim() ? value.trim() : new URL(base).origin, base);
      return url.href.replace(/\/+$/, "");
    } catch (e) {
      return "";
    }
  }

  // ---- styles --------------------------------------------------------------------------------

  var CSS = [
    ":host { all: initial; }",
    "*, *::before, *::after { box-sizing: border-box; }",
    "[hidden] { display: none !important; }",
    ".root {",
    "  --dl-accent: #1d4ed8; --dl-accent-dark: #1e3a8a; --dl-ink: #111827; --dl-muted: #4b5563;",
    "  --dl-line: #e5e7eb; --dl-soft: #f3f4f6; --dl-paper: #ffffff; --dl-mark: #fde68a;",
    "  --dl-error: #b91c1c; --dl-error-soft: #fef2f2;",
    "  font-family: system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif;",
    "  font-size: 15px; line-height: 1.45; color: var(--dl-ink); font-weight: 400;",
    "  -webkit-font-smoothing: antialiased; text-align: left;",
    "}",
    "button { font: inherit; color: inherit; }",
    ".sr-only { position: absolute !important; width: 1px; height: 1px; padding: 0; margin: -1px;",
    "  overflow: hidden; clip: rect(0 0 0 0); clip-path: inset(50%); white-space: nowrap; border: 0; }",
    ":focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }",
    "svg { display: block; width: 100%; height: 100%; fill: none; stroke: currentColor;",
    "  stroke-width: 2; stroke-linecap: round; stroke-linejoin: round; }",

    /* launcher */
    ".launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000;",
    "  width: 58px; height: 58px; padding: 15px; border: 0; border-radius: 50%; cursor: pointer;",
    "  background: var(--dl-accent); color: #fff;",
    "  box-shadow: 0 6px 20px rgba(17, 24, 39, .28), 0 2px 6px rgba(17, 24, 39, .18);",
    "  transition: transform .15s ease, background-color .15s ease; }",
    ".launcher:hover { background: var(--dl-accent-dark); transform: scale(1.05); }",
    ".launcher .icon-close { display: none; }",
    ".launcher[aria-expanded='true'] .icon-open { display: none; }",
    ".launcher[aria-expanded='true'] .icon-close { display: block; }",

    /* panel */
    ".panel { position: fixed; right: 20px; bottom: 92px; z-index: 2147483001;",
    "  width: 380px; height: 560px; max-height: calc(100vh - 112px);",
    "  display: flex; flex-direction: column; overflow: hidden;",
    "  background: var(--dl-paper); border: 1px solid var(--dl-line); border-radius: 16px;",
    "  box-shadow: 0 18px 50px rgba(17, 24, 39, .25), 0 4px 12px rgba(17, 24, 39, .12);",
    "  animation: dl-in .16s ease-out; }",
    "@keyframes dl-in { from { opacity: 0; transform: translateY(8px); } to { opacity: 1; transform: none; } }",
    "@media (prefers-reduced-motion: reduce) { .panel { animation: none; } .launcher { transition: none; } }",
    ".head { display: flex; align-items: center; gap: 10px; padding: 12px 12px 12px 16px;",
    "  background: var(--dl-accent-dark); color: #fff; flex: none; }",
    ".head-text { flex: 1; min-width: 0; }",
    ".title { margin: 0; font-size: 16px; font-weight: 650; line-height: 1.25; }",
    ".subtitle { margin: 2px 0 0; font-size: 12.5px; opacity: .85; }",
    ".close { flex: none; width: 36px; height: 36px; padding: 8px; border: 0; border-radius: 8px;",
    "  background: transparent; color: #fff; cursor: pointer; }",
    ".close:hover { background: rgba(255, 255, 255, .15); }",

    /* conversation */
    ".log { position: relative; flex: 1; overflow-y: auto; padding: 14px 14px 6px;",
    "  background: #fafafa; overscroll-behavior: contain; }",
    ".log:focus-visible { outline-offset: -3px; }",
    ".intro { margin: 0 0 12px; padding: 10px 12px; font-size: 13.5px; color: var(--dl-muted);",
    "  background: var(--dl-paper); border: 1px dashed #d1d5db; border-radius: 10px; }",
    ".turn { margin: 0 0 12px; }",
    ".q { display: flex; justify-content: flex-end; }",
    ".q p { margin: 0 0 0 40px; padding: 8px 12px; max-width: 100%; border-radius: 14px 14px 4px 14px;",
    "  background: var(--dl-accent); color: #fff; overflow-wrap: anywhere; white-space: pre-wrap; }",
    ".a { margin-right: 18px; padding: 12px; background: var(--dl-paper); border: 1px solid var(--dl-line);",
    "  border-radius: 14px 14px 14px 4px; box-shadow: 0 1px 2px rgba(17, 24, 39, .05); overflow-wrap: anywhere; }",
    ".a > :first-child { margin-top: 0; }",
    ".a > :last-child { margin-bottom: 0; }",
    ".note { margin: 0 0 8px; font-size: 12.5px; color: var(--dl-muted); }",
    ".quote { margin: 0 0 8px; padding: 2px 0 2px 12px; border-left: 3px solid var(--dl-accent);",
    "  font-family: Georgia, 'Iowan Old Style', 'Times New Roman', serif; font-size: 16px; line-height: 1.5; }",
    ".quote p { margin: 0; }",
    "mark { background: var(--dl-mark); color: inherit; padding: 0 2px; border-radius: 3px; }",
    ".quote mark { font-weight: 600; }",
    ".meta { margin: 0 0 6px; font-size: 13px; color: var(--dl-muted); }",
    ".meta cite { font-style: normal; font-weight: 600; color: var(--dl-ink); }",
    ".meta a { color: var(--dl-accent-dark); }",
    ".meta time, .meta .undated { white-space: nowrap; }",
    ".sep { margin: 0 6px; color: #9ca3af; }",
    ".events { margin: 0 0 6px; padding: 0; list-style: none; font-size: 13px; color: var(--dl-ink); }",
    ".events .label { font-weight: 600; }",
    ".events .expr { color: var(--dl-muted); }",
    ".toggle { margin-top: 4px; padding: 4px 10px; border: 1px solid #c7d2fe; border-radius: 999px;",
    "  background: #eef2ff; color: var(--dl-accent-dark); font-size: 12.5px; font-weight: 600; cursor: pointer; }",
    ".toggle:hover { background: #e0e7ff; }",
    ".passage { margin: 8px 0 0; padding: 10px 12px; max-height: 220px; overflow-y: auto;",
    "  font-size: 13px; line-height: 1.5; color: #374151; background: var(--dl-soft);",
    "  border-radius: 8px; white-space: pre-wrap; }",
    ".passage-src { display: block; margin-bottom: 6px; font-size: 11.5px; font-weight: 600;",
    "  letter-spacing: .03em; text-transform: uppercase; color: var(--dl-muted); white-space: normal; }",
    ".notfound p { margin: 0; }",
    ".notfound .hint { margin-top: 4px; font-size: 13px; color: var(--dl-muted); }",
    ".error { background: var(--dl-error-soft); border-color: #fecaca; color: var(--dl-error); }",
    ".pending { color: var(--dl-muted); font-size: 13.5px; }",
    ".dots span { display: inline-block; width: 6px; height: 6px; margin-left: 3px; border-radius: 50%;",
    "  background: currentColor; opacity: .3; animation: dl-dot 1s infinite ease-in-out; }",
    ".dots span:nth-child(2) { animation-delay: .15s; } .dots span:nth-child(3) { animation-delay: .3s; }",
    "@keyframes dl-dot { 50% { opacity: 1; } }",
    "@media (prefers-reduced-motion: reduce) { .dots span { animation: none; opacity: .7; } }",

    /* timeline */
    ".timeline { margin: 10px 0 0; padding-top: 8px; border-top: 1px solid var(--dl-line); }",
    ".timeline h3 { margin: 0 0 6px; font-size: 12.5px; font-weight: 650; letter-spacing: .03em;",
    "  text-transform: uppercase; color: var(--dl-muted); }",
    ".timeline ol { margin: 0; padding: 0; list-style: none; }",
    ".timeline li { position: relative; margin: 0; padding: 0 0 10px 18px; font-size: 13px; }",
    ".timeline li::before { content: ''; position: absolute; left: 4px; top: 6px; bottom: -6px;",
    "  width: 2px; background: #c7d2fe; }",
    ".timeline li:last-child::before { display: none; }",
    ".timeline li::after { content: ''; position: absolute; left: 0; top: 4px; width: 10px; height: 10px;",
    "  border-radius: 50%; background: var(--dl-paper); border: 2px solid var(--dl-accent); }",
    ".timeline time, .timeline .undated { display: block; font-weight: 650; color: var(--dl-accent-dark); }",
    ".timeline q { display: block; font-family: Georgia, 'Times New Roman', serif; font-size: 14px; }",
    ".timeline .src { display: block; font-size: 12px; color: var(--dl-muted); }",

    /* composer */
    ".composer { display: flex; gap: 8px; padding: 10px 12px 12px; border-top: 1px solid var(--dl-line);",
    "  background: var(--dl-paper); flex: none; }",
    ".input { flex: 1; min-width: 0; height: 42px; padding: 0 14px; border: 1px solid #d1d5db;",
    "  border-radius: 999px; font: inherit; font-size: 15px; color: var(--dl-ink); background: #fff; }",
    ".input::placeholder { color: #6b7280; }",
    ".input:focus { outline: none; border-color: var(--dl-accent); box-shadow: 0 0 0 3px rgba(29, 78, 216, .2); }",
    ".send { flex: none; width: 42px; height: 42px; padding: 10px; border: 0; border-radius: 50%;",
    "  background: var(--dl-accent); color: #fff; cursor: pointer; }",
    ".send:hover { background: var(--dl-accent-dark); }",
    ".send[aria-disabled='true'] { opacity: .55; cursor: progress; }",
    ".powered { margin: 0; padding: 0 12px 8px; font-size: 11px; color: #6b7280; text-align: center;",
    "  background: var(--dl-paper); flex: none; }",

    /* phones: the panel takes the whole screen */
    "@media (max-width: 480px) {",
    "  .panel { inset: 0; right: 0; bottom: 0; width: 100%; height: 100%; max-height: none;",
    "    border: 0; border-radius: 0; }",
    "  .launcher { right: 16px; bottom: 16px; }",
    "  .launcher[aria-expanded='true'] { display: none; }",
    "  .a { margin-right: 0; }",
    "}",
    "@supports (height: 100dvh) { @media (max-width: 480px) { .panel { height: 100dvh; } } }",
  ].join("\n");

  function applyStyles(shadow) {
    try {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      shadow.adoptedStyleSheets = [sheet];
      return;
    } catch (e) {
      // Older browsers without constructable stylesheets: fall back to a <style> element
      // (blocked by a strict style-src CSP, but those browsers are rare).
    }
    var style = document.createElement("style");
    style.textContent = CSS;
    shadow.appendChild(style);
  }

  // ---- small DOM helpers (text only, never HTML) -----------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      for (var key in attrs) {
        if (!Object.prototype.hasOwnProperty.call(attrs, key) || attrs[key] == null) continue;
        if (key === "text") node.textContent = attrs[key];
        else if (key === "className") node.className = attrs[key];
        else node.setAttribute(key, attrs[key]);
      }
    }
    if (children) {
      for (var i = 0; i < children.length; i++) {
        var child = children[i];
        if (child == null) continue;
        node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
      }
    }
    return node;
  }

  var SVG_NS = "http://www.w3.org/2000/svg";

  function icon(paths, className) {
    var svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    if (className) svg.setAttribute("class", className);
    for (var i = 0; i < paths.length; i++) {
      var path = document.createElementNS(SVG_NS, "path");
      path.setAttribute("d", paths[i]);
      svg.appendChild(path);
    }
    return svg;
  }

  var ICON_CHAT = ["M21 12a8 8 0 0 1-11.6 7.1L4 20.5l1.4-4.9A8 8 0 1 1 21 12z", "M8.5 10.5h7", "M8.5 14h4.5"];
  var ICON_CLOSE = ["M6 6l12 12", "M18 6L6 18"];
  var ICON_SEND = ["M4 12l16-8-6 16-2.5-6.5z", "M11.5 13.5L20 4"];

  /* Offsets from the server count Unicode code points (Python str indices), not UTF-16 units. */
  function codePoints(text) {
    return Array.from(text == null ? "" : String(text));
  }

  function sliceCp(cps, start, end) {
    return cps.slice(start, end).join("");
  }

  /*
   * Append `text` to `parent`, wrapping the code-point range [start, end) in `wrapTag`
   * (falling back to the first occurrence of `expected` when the offsets do not match).
   */
  function appendHighlighted(parent, text, start, end, expected, wrapTag) {
    var cps = codePoints(text);
    var ok =
      typeof start === "number" && typeof end === "number" &&
      start >= 0 && end > start && end <= cps.length &&
      (expected == null || sliceCp(cps, start, end) === expected);
    if (!ok && expected) {
      var at = String(text).indexOf(expected);
      if (at >= 0) {
        start = codePoints(String(text).slice(0, at)).length;
        end = start + codePoints(expected).length;
        ok = true;
      }
    }
    if (!ok) {
      parent.appendChild(document.createTextNode(String(text == null ? "" : text)));
      return null;
    }
    var before = sliceCp(cps, 0, start);
    var inner = sliceCp(cps, start, end);
    var after = sliceCp(cps, end, cps.length);
    if (before) parent.appendChild(document.createTextNode(before));
    var wrap = el(wrapTag, { text: inner });
    parent.appendChild(wrap);
    if (after) parent.appendChild(document.createTextNode(after));
    return wrap;
  }

  function dateLabel(date, dateSource) {
    if (!date) return "undated";
    return dateSource === "inferred" ? date + " (inferred)" : date;
  }

  function dateNode(date, dateSource, tag) {
    if (!date) return el("span", { className: "undated", text: "undated" });
    return el(tag || "time", { datetime: date, text: dateLabel(date, dateSource) });
  }

  function docName(item) {
    return item.title || item.doc_id || "Untitled article";
  }

  function safeHttpUrl(value) {
    if (!value || typeof value !== "string") return null;
    try {
      var url = new URL(value);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function newSessionId() {
    var c = window.crypto;
    if (c && typeof c.randomUUID === "function") {
      try {
        return c.randomUUID();
      } catch (e) {
        /* insecure context: fall through */
      }
    }
    var bytes = new Uint8Array(16);
    if (c && typeof c.getRandomValues === "function") c.getRandomValues(bytes);
    else for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) {
      return (b + 0x100).toString(16).slice(1);
    }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" +
      hex.slice(16, 20) + "-" + hex.slice(20);
  }

  // ---- build the widget --------------------------------------------------------------------

  var uid = 0;
  function nextId(prefix) {
    uid += 1;
    return "dl-" + prefix + "-" + uid;
  }

  var host = document.createElement(HOST_TAG);
  var shadow = host.attachShadow({ mode: "open" });
  applyStyles(shadow);

  var launcher = el("button", {
    type: "button",
    className: "launcher",
    "aria-label": title,
    "aria-expanded": "false",
    "aria-controls": "dl-panel",
    title: title,
  }, [icon(ICON_CHAT, "icon-open"), icon(ICON_CLOSE, "icon-close")]);

  var closeButton = el("button", {
    type: "button", className: "close", "aria-label": "Close " + title, title: "Close",
  }, [icon(ICON_CLOSE)]);

  var log = el("div", {
    className: "log", tabindex: "0", "aria-label": "Conversation",
  }, [
    el("p", {
      className: "intro",
      text: "Ask a question about the news articles in this archive. Each answer is a sentence " +
        "quoted word for word from an article, with its title and date.",
    }),
  ]);

  var input = el("input", {
    type: "text", className: "input", id: "dl-input", name: "question",
    autocomplete: "off", maxlength: String(MAX_QUESTION_LENGTH), placeholder: "Ask a question…",
    enterkeyhint: "send",
  });
  var sendButton = el("button", {
    type: "submit", className: "send", "aria-label": "Send question", title: "Send",
  }, [icon(ICON_SEND)]);
  var form = el("form", { className: "composer", novalidate: "" }, [
    el("label", { className: "sr-only", for: "dl-input", text: "Your question" }),
    input,
    sendButton,
  ]);

  var panel = el("section", {
    className: "panel", id: "dl-panel", role: "dialog", "aria-label": title, hidden: "",
  }, [
    el("header", { className: "head" }, [
      el("div", { className: "head-text" }, [
        el("h2", { className: "title", text: title }),
        el("p", { className: "subtitle", text: "Answers quoted from the articles, with dates" }),
      ]),
      closeButton,
    ]),
    log,
    form,
    el("p", { className: "powered", text: "Quotes are verbatim; check the passage for context." }),
  ]);

  var live = el("div", { className: "sr-only live", "aria-live": "polite", "aria-atomic": "true" });

  shadow.appendChild(el("div", { className: "root" }, [launcher, panel, live]));

  // ---- open / close ------------------------------------------------------------------------

  function isOpen() {
    return !panel.hidden;
  }

  function openPanel() {
    if (!isOpen()) {
      panel.hidden = false;
      launcher.setAttribute("aria-expanded", "true");
      launcher.setAttribute("aria-label", "Close " + title);
      log.scrollTop = log.scrollHeight;
    }
    input.focus();
  }

  function closePanel() {
    if (!isOpen()) return;
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-label", title);
    launcher.focus();
  }

  launcher.addEventListener("click", function () {
    if (isOpen()) closePanel();
    else openPanel();
  });
  closeButton.addEventListener("click", closePanel);
  shadow.addEventListener("keydown", function (event) {
    if ((event.key === "Escape" || event.key === "Esc") && isOpen()) {
      event.preventDefault();
      event.stopPropagation();
      closePanel();
    }
  });

  // ---- conversation ------------------------------------------------------------------------

  var sessionId = newSessionId();
  var busy = false;

  function announce(text) {
    // Clear first so the same text twice is still announced.
    live.textContent = "";
    setTimeout(function () {
      live.textContent = text;
    }, 50);
  }

  /*
   * Scroll the conversation so the bottom of `node` is visible, but never so far that the top
   * of `keep` (the turn or answer it belongs to) leaves the view.
   */
  function reveal(node, keep) {
    var view = log.getBoundingClientRect();
    var rect = node.getBoundingClientRect();
    var delta = rect.bottom - (view.bottom - 8);
    var keepTop = (keep || node).getBoundingClientRect().top - (view.top + 8);
    if (delta > keepTop) delta = keepTop;
    if (delta > 0 || keepTop < 0) log.scrollTop += delta;
  }

  function addTurn(question) {
    var turn = el("div", { className: "turn" }, [
      el("div", { className: "q" }, [el("p", { text: question })]),
    ]);
    var pending = el("div", { className: "a pending" }, [
      "Searching the articles",
      el("span", { className: "dots", "aria-hidden": "true" }, [el("span"), el("span"), el("span")]),
    ]);
    turn.appendChild(pending);
    log.appendChild(turn);
    log.scrollTop = log.scrollHeight;
    return { turn: turn, pending: pending };
  }

  function findPassage(answer, passages) {
    var same = (passages || []).filter(function (p) {
      return p && p.doc_id === answer.doc_id;
    });
    for (var i = 0; i < same.length; i++) {
      if (same[i].char_start <= answer.char_start && answer.char_end <= same[i].char_end) return same[i];
    }
    return same[0] || null;
  }

  function renderMeta(item) {
    var meta = el("p", { className: "meta" });
    var name = docName(item);
    var url = safeHttpUrl(item.source);
    var cite = el("cite");
    if (url) cite.appendChild(el("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: name }));
    else cite.textContent = name;
    meta.appendChild(cite);
    meta.appendChild(el("span", { className: "sep", "aria-hidden": "true", text: "·" }));
    meta.appendChild(dateNode(item.date, item.date_source));
    return meta;
  }

  function renderEvents(events) {
    if (!events || !events.length) return null;
    var list = el("ul", { className: "events", "aria-label": "Event dates" });
    events.forEach(function (ev) {
      if (!ev || !ev.start) return;
      var when = ev.end && ev.end !== ev.start ? ev.start + " – " + ev.end : ev.start;
      var li = el("li", null, [
        el("span", { className: "label", text: "Event date:" }),
        " ",
        el("time", { datetime: ev.start, text: when }),
      ]);
      if (ev.text && ev.text !== ev.start) {
        li.appendChild(el("span", { className: "expr", text: " (“" + ev.text + "”)" }));
      }
      list.appendChild(li);
    });
    return list.childNodes.length ? list : null;
  }

  function renderPassageToggle(answer, passage, container) {
    var id = nextId("passage");
    var box = el("div", { className: "passage", id: id, hidden: "" });
    box.appendChild(el("span", { className: "passage-src", text: "Supporting passage" }));
    var quoteMark = appendHighlighted(
      box, passage.text,
      answer.char_start - passage.char_start, answer.char_end - passage.char_start,
      answer.text, "mark"
    );
    if (quoteMark) quoteMark.className = "quote-mark";
    var button = el("button", {
      type: "button", className: "toggle", "aria-expanded": "false", "aria-controls": id,
      text: "Show passage",
    });
    button.addEventListener("click", function () {
      var show = box.hidden;
      box.hidden = !show;
      button.setAttribute("aria-expanded", show ? "true" : "false");
      button.textContent = show ? "Hide passage" : "Show passage";
      if (show) {
        if (quoteMark) box.scrollTop = Math.max(0, quoteMark.offsetTop - box.offsetTop - 40);
        reveal(box, container);
      }
    });
    container.appendChild(button);
    container.appendChild(box);
  }

  function renderTimeline(timeline) {
    var wrap = el("section", { className: "timeline", "aria-label": "Timeline" }, [
      el("h3", { text: "Timeline" }),
    ]);
    var list = el("ol");
    timeline.forEach(function (item) {
      if (!item) return;
      list.appendChild(el("li", null, [
        dateNode(item.date, item.date_source),
        el("q", { text: item.text }),
        el("span", { className: "src", text: docName(item) }),
      ]));
    });
    wrap.appendChild(list);
    return wrap;
  }

  function renderResponse(data) {
    var box = el("div", { className: "a answer" });
    if (data.context && data.context.question) {
      box.appendChild(el("p", { className: "note context", text: "Follow-up to: " + data.context.question }));
    }
    if (data.window && (data.window.since || data.window.until)) {
      var range = (data.window.since || "…") + " – " + (data.window.until || "…");
      box.appendChild(el("p", { className: "note window", text: "Articles dated " + range }));
    }
    var answer = data.answer;
    var spoken;
    if (answer) {
      var quote = el("blockquote", { className: "quote" });
      var para = el("p");
      var span = answer.span;
      if (span && typeof span.char_start === "number") {
        appendHighlighted(para, answer.text, span.char_start - answer.char_start,
          span.char_end - answer.char_start, span.text, "mark");
      } else {
        para.appendChild(document.createTextNode(answer.text));
      }
      quote.appendChild(para);
      box.appendChild(quote);
      box.appendChild(renderMeta(answer));
      var events = renderEvents(answer.event_dates);
      if (events) box.appendChild(events);
      var passage = findPassage(answer, data.passages);
      if (passage) renderPassageToggle(answer, passage, box);
      spoken = "Answer: " + answer.text + " Source: " + docName(answer) + ", " +
        dateLabel(answer.date, answer.date_source) + ".";
    } else {
      box.classList.add("notfound");
      box.appendChild(el("p", { text: "Not found in these articles." }));
      box.appendChild(el("p", {
        className: "hint",
        text: "No sentence in the archive answers that. Try rephrasing, or ask about another topic.",
      }));
      spoken = "Not found in these articles.";
    }
    if (data.timeline && data.timeline.length) box.appendChild(renderTimeline(data.timeline));
    return { node: box, spoken: spoken };
  }

  function renderError(message) {
    return el("div", { className: "a error", role: "alert" }, [el("p", { text: message })]);
  }

  function detailText(body) {
    if (!body || body.detail == null) return "";
    var d = body.detail;
    if (typeof d === "string") return d;
    if (Array.isArray(d)) {
      return d.map(function (item) {
        if (item && typeof item === "object") {
          var loc = Array.isArray(item.loc) ? item.loc.filter(function (p) { return p !== "body"; }).join(".") : "";
          return (loc ? loc + ": " : "") + (item.msg || JSON.stringify(item));
        }
        return String(item);
      }).join("; ");
    }
    try {
      return JSON.stringify(d);
    } catch (e) {
      return String(d);
    }
  }

  function retryAfterSeconds(header) {
    if (!header) return null;
    var secs = parseInt(header, 10);
    if (/^\s*\d+\s*$/.test(header) && !isNaN(secs)) return secs;
    var when = Date.parse(header);
    if (!isNaN(when)) return Math.max(1, Math.ceil((when - Date.now()) / 1000));
    return null;
  }

  function errorMessage(status, body, retryAfter) {
    if (status === 429) {
      var secs = retryAfterSeconds(retryAfter);
      return secs != null
        ? "Too many questions, try again in " + secs + (secs === 1 ? " second." : " seconds.")
        : "Too many questions, try again in a moment.";
    }
    var detail = detailText(body);
    if (status >= 500) {
      return "The archive could not answer right now (error " + status + ")" +
        (detail ? ": " + detail : ".") ;
    }
    return "The question could not be processed (error " + status + ")" + (detail ? ": " + detail : ".");
  }

  function ask(question) {
    question = String(question || "").trim().slice(0, MAX_QUESTION_LENGTH);
    if (!question || busy) return;
    busy = true;
    sendButton.setAttribute("aria-disabled", "true");
    log.setAttribute("aria-busy", "true");
    var slots = addTurn(question);

    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, REQUEST_TIMEOUT_MS) : null;

    function finish(node, spoken) {
      if (timer) clearTimeout(timer);
      slots.turn.replaceChild(node, slots.pending);
      busy = false;
      sendButton.removeAttribute("aria-disabled");
      log.removeAttribute("aria-busy");
      reveal(node, slots.turn);
      announce(spoken);
    }

    function fail(message) {
      finish(renderError(message), message);
    }

    if (!endpoint) {
      fail("The widget is not configured: its data-endpoint is not a valid URL.");
      return;
    }

    fetch(endpoint + "/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ question: question, session_id: sessionId }),
      credentials: "omit",
      signal: controller ? controller.signal : undefined,
    }).then(function (response) {
      return response.text().then(function (raw) {
        var body = null;
        try {
          body = raw ? JSON.parse(raw) : null;
        } catch (e) {
          body = null;
        }
        if (!response.ok) {
          fail(errorMessage(response.status, body, response.headers.get("Retry-After")));
          return;
        }
        if (!body || typeof body !== "object" || !("answer" in body)) {
          fail("The archive sent a reply the widget could not read.");
          return;
        }
        if (typeof body.session_id === "string" && body.session_id) sessionId = body.session_id;
        var rendered;
        try {
          rendered = renderResponse(body);
        } catch (e) {
          fail("The archive sent a reply the widget could not read.");
          return;
        }
        finish(rendered.node, rendered.spoken);
      });
    }).catch(function (err) {
      if (err && err.name === "AbortError") fail("The archive took too long to answer. Please try again.");
      else fail("Could not reach the archive. Check your connection and try again.");
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var question = input.value.trim();
    if (!question || busy) return;
    input.value = "";
    ask(question);
    input.focus();
  });

  // Host-page elements with data-dateline-ask open the widget and ask their question.
  document.addEventListener("click", function (event) {
    var target = event.target;
    var trigger = target && target.closest ? target.closest("[data-dateline-ask]") : null;
    if (!trigger) return;
    event.preventDefault();
    var question = trigger.getAttribute("data-dateline-ask") || trigger.textContent || "";
    openPanel();
    ask(question);
  });

  function mount() {
    document.body.appendChild(host);
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
