"""The README's first command: the demo runs in a fresh process, checks its own results against
numpy, and reports the scheduled and the tuned kernel's speed beside numpy's."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_runs_and_reports_scheduled_speed_next_to_numpy() -> None:
    done = subprocess.run([sys.executable, "-m", "tvmscript.demo"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "structurally equal, well-formed" in out
    scheduled = re.search(r"scheduled: +([\d.]+) GFLOPS, matches numpy", out)
    numpy_line = re.search(r"numpy \(OpenBLAS\): +([\d.]+) GFLOPS .* at ([\d.]+)x numpy", out)
    assert scheduled and numpy_line, out
    assert float(scheduled.group(1)) > 0 and float(numpy_line.group(1)) > 0
    assert "as written (no schedule)" in out and "Model.main" in out
    tuned = re.search(r"(\d+) candidates measured in \d+ s \((\d+) failed\)", out)
    assert tuned and int(tuned.group(1)) == 32 and int(tuned.group(2)) < 32, out
    assert re.search(r"tuned: +[\d.]+ GFLOPS, matches numpy", out), out
    assert re.search(r"tuned kernel at [\d.]+x numpy's speed", out), out
