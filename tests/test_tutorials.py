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
    ("tune_matmul.py", ["--quick"], ("tuned from the database", "the vector width it chose")),
    ("tune_resnet.py", ["--quick"], ("model estimate", "loads back and gives the same numbers",
                                     "C output == Python output: True")),
    ("optimize_matmul_gpu.py", ["--quick"], ("== tensor cores (float16)", "__syncthreads();",
                                             "nvcuda::wmma::mma_sync",
                                             "data race in kernel 'reverse_kernel'")),
])
def test_tutorial_runs(script, args, expect, tmp_path):
    # in a scratch folder: a tutorial may write files (tune_matmul.py draws its curves there)
    done = subprocess.run([sys.executable, str(TUTORIALS / script), *args], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    for line in (expect,) if isinstance(expect, str) else expect:
        assert line in done.stdout
