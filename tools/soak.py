"""Soak test: many questions, some malformed, at a real `qa serve` on loopback (`make soak`).

Builds (or brings up to date) an index of data/articles, starts `qa serve` as a subprocess,
asks every question once unloaded, warms up, then sends the mix at the given concurrency.
It passes when no response is a 5xx, every malformed request gets its 4xx, every well-formed
answer equals the unloaded one for the same question, and the server's resident memory at the
end is within the allowed growth of its size after warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path.home() / ".cache" / "dateline" / "soak"
QUESTIONS = ROOT / "tests" / "fixtures" / "dev.jsonl"
JSON = {"Content-Type": "application/json"}
# Malformed requests (body, headers) and the status each must get.
MALFORMED: list[tuple[bytes, dict[str, str], int]] = [
    (b'{"question": "Who', JSON, 422),
    (b'{"question": ""}', JSON, 422),
    (b'{"question": "   "}', JSON, 422),
    (b'{"question": "?!?"}', JSON, 422),
    (b'{"question": "Who?", "top_k": 0}', JSON, 422),
    (b'{"question": "Who?", "top_k": 51}', JSON, 422),
    (b'{"question": "Who?", "colour": "red"}', JSON, 422),
    (b'{"question": "Who?", "since": "2023-01-01", "until": "2022-01-01"}', JSON, 422),
    (b'{"question": "Who \\ud800?"}', JSON, 422),
    (b'{"question": "Who?"}', {"Content-Type": "text/plain"}, 422),
    (b'{"question": "Caf\xe9?"}', JSON, 400),
    (b'{"question": "' + b"a" * 1_000_100 + b'"}', JSON, 413),
]


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    wrong_rejections: list[str] = field(default_factory=list)
    rss_samples: list[tuple[int, int]] = field(default_factory=list)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=500, help="requests before the RSS baseline")
    parser.add_argument("--malformed", type=float, default=0.1, help="share of bad requests")
    parser.add_argument("--max-rss-growth", type=float, default=0.10)
    parser.add_argument("--articles", type=Path, default=ROOT / "data" / "articles")
    parser.add_argument("--index", type=Path, default=CACHE / "index")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    qa = str(Path(sys.executable).with_name("qa"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    args.index.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [qa, "ingest", str(args.articles), "--index", str(args.index), "--quiet"],
        check=True,
        env=env,
    )
    port = _free_port()
    log_path = args.index.parent / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [qa, "serve", "--index", str(args.index), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            passed = asyncio.run(_soak(args, f"http://127.0.0.1:{port}", server.pid))
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
    print(f"server log: {log_path}")
    sys.exit(0 if passed else 1)


async def _soak(args: argparse.Namespace, url: str, pid: int) -> bool:
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines()]
    rng = random.Random(args.seed)
    async with httpx.AsyncClient(
        base_url=url, timeout=300, limits=httpx.Limits(max_connections=args.concurrency)
    ) as client:
        await _wait_until_up(client)
        expected = {}
        for question in questions:  # unloaded: one at a time
            reply = await client.post("/ask", json={"question": question})
            reply.raise_for_status()
            expected[question] = reply.json()
        plan = [
            rng.choice(MALFORMED) if rng.random() < args.malformed else rng.choice(questions)
            for _ in range(args.requests)
        ]
        tally = Tally()
        started = time.perf_counter()
        await _run(client, plan[: args.warmup], expected, tally, args.concurrency)
        tally.rss_samples.append((args.warmup, _rss_kib(pid)))
        step = max(1, (len(plan) - args.warmup) // 10)
        for start in range(args.warmup, len(plan), step):
            await _run(client, plan[start : start + step], expected, tally, args.concurrency)
            tally.rss_samples.append((min(start + step, len(plan)), _rss_kib(pid)))
        seconds = time.perf_counter() - started
    return _report(args, tally, seconds, len(questions))


async def _wait_until_up(client: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if (await client.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.5)
    raise SystemExit("qa serve did not come up within 300 s; see the server log")


async def _run(
    client: httpx.AsyncClient,
    plan: list[str | tuple[bytes, dict[str, str], int]],
    expected: dict[str, object],
    tally: Tally,
    concurrency: int,
) -> None:
    queue: asyncio.Queue[str | tuple[bytes, dict[str, str], int]] = asyncio.Queue()
    for item in plan:
        queue.put_nowait(item)

    async def worker() -> None:
        while not queue.empty():
            item = queue.get_nowait()
            began = time.perf_counter()
            if isinstance(item, str):
                reply = await client.post("/ask", json={"question": item})
                tally.latencies.append(time.perf_counter() - began)
                if reply.status_code == 200 and reply.json() != expected[item]:
                    tally.mismatches.append(item)
            else:
                body, headers, status = item
                reply = await client.post("/ask", content=body, headers=headers)
                if reply.status_code != status:
                    tally.wrong_rejections.append(f"{body[:60]!r}: {reply.status_code}")
            tally.statuses[reply.status_code] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def _report(args: argparse.Namespace, tally: Tally, seconds: float, n_questions: int) -> bool:
    server_errors = sum(n for status, n in tally.statuses.items() if status >= 500)
    baseline, end = tally.rss_samples[0][1], tally.rss_samples[-1][1]
    growth = (end - baseline) / baseline
    total = sum(tally.statuses.values())
    quantiles = statistics.quantiles(tally.latencies, n=100)
    print(
        f"{total} requests ({n_questions} questions, {args.malformed:.0%} malformed) at "
        f"concurrency {args.concurrency} in {seconds:.1f} s: {total / seconds:.1f} requests/s"
    )
    print("statuses: " + ", ".join(f"{s}: {n}" for s, n in sorted(tally.statuses.items())))
    print(
        f"well-formed latency p50 {quantiles[49] * 1000:.0f} ms, p95 {quantiles[94] * 1000:.0f}"
        f" ms, p99 {quantiles[98] * 1000:.0f} ms"
    )
    print(
        "server RSS (MiB) after requests: "
        + ", ".join(f"{n}: {rss / 1024:.0f}" for n, rss in tally.rss_samples)
    )
    print(
        f"RSS after warm-up {baseline / 1024:.0f} MiB, at the end {end / 1024:.0f} MiB "
        f"({growth:+.1%}, allowed {args.max_rss_growth:+.0%})"
    )
    print(
        f"5xx: {server_errors}; answers differing from the unloaded ones: "
        f"{len(tally.mismatches)}; malformed requests not refused as expected: "
        f"{len(tally.wrong_rejections)}"
    )
    for problem in (tally.mismatches + tally.wrong_rejections)[:10]:
        print(f"  {problem}")
    passed = (
        server_errors == 0
        and not tally.mismatches
        and not tally.wrong_rejections
        and growth <= args.max_rss_growth
    )
    print("PASS" if passed else "FAIL")
    return passed


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise SystemExit(f"no VmRSS for process {pid}: did the server exit?")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    main()
