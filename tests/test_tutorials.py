"""The tutorials run to completion from the checkout (they are documentation that executes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parents[1] / "tutorials"


@pytest.mark.parametrize("script, args, expect", [
    ("optimize_matmul_cpu.py", ["--quick"], "numpy"),
    ("tensorize_int8_matmul.py", [], "tensorized == un-tensorized == numpy"),
    ("tensorize_amx_matmul.py", [], "tensorized == un-tensorized == numpy"),
])
def test_tutorial_runs(script, args, expect):
    done = subprocess.run([sys.executable, str(TUTORIALS / script), *args], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert expect in done.stdout
