"""The test side of the TVM worker: send script text, get TVM's answer.

``TVMBridge`` keeps one worker process alive for the session (importing TVM takes seconds) and
starts a new one when a request crashed it, reporting that request as failed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TVM_REASON = (
    "Apache TVM is not installed: the interop tests need the `interop` extra "
    '(pip install -e ".[interop]"), which .ci/run installs'
)


def tvm_installed() -> bool:
    return importlib.util.find_spec("tvm") is not None and importlib.util.find_spec("tvm_ffi") is not None


class TVMBridge:
    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        return subprocess.Popen(
            [sys.executable, "-m", "tests.interop.tvm_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
            env=env,
        )

    def request(self, op: str, **fields) -> dict:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = self._start()
        self._proc.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            code = self._proc.wait()
            self._proc = None
            return {"ok": False, "error": f"the TVM worker died (exit status {code}) on this request"}
        return json.loads(line)

    def parse(self, text: str) -> dict:
        return self.request("parse", text=text)

    def equal(self, left: str, right: str) -> dict:
        return self.request("equal", left=left, right=right)

    def schedule(self, recipe: str, text: str) -> dict:
        return self.request("schedule", recipe=recipe, text=text)

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.stdin.close()
            self._proc.wait(timeout=30)
        self._proc = None
