"""`qa serve --workers 2` as a user starts it: a real process tree answering on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import ROOT, free_port


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found.extend(int(c) for c in children)
    return found


def test_workers_share_the_port_and_answer_alike(sample_index: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "qa.cli",
            "serve",
            "--index",
            str(sample_index),
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        cwd=ROOT,
        env={**os.environ, "QA_INDEX": "/nonexistent"},  # --index must win over the variable
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        answers = []
        while len(answers) < 6:
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            assert time.monotonic() < deadline, "the workers did not answer within 120 s"
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/ask",
                data=json.dumps({"question": "Where is the Baikonur Cosmodrome located?"}).encode(),
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    answers.append(json.loads(response.read())["answer"]["text"])
            except OSError:
                time.sleep(0.5)
        assert len(set(answers)) == 1 and "southern Kazakhstan" in answers[0]
        # uvicorn's supervisor plus a spawn helper; two of its children are workers.
        assert len(_children(server.pid)) >= 2
    finally:
        server.terminate()
        server.wait(timeout=30)
