"""Every Python snippet in the README runs as copied: the blocks are run in order in one
namespace (as a reader pasting them into one session would), in a scratch folder, in a fresh
process so that nothing another test loaded can make a snippet pass."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.interop.tvm_bridge import TVM_REASON, tvm_installed

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
NEEDS_TVM = "# needs the interop extra"


def readme_snippets(with_tvm: bool = True) -> list[str]:
    """The snippets; those that start with ``# needs the interop extra`` only ``with_tvm``."""
    return [code for code in BLOCK.findall((ROOT / "README.md").read_text())
            if with_tvm or not code.startswith(NEEDS_TVM)]


def test_readme_has_snippets() -> None:
    assert len(readme_snippets()) >= 5


@pytest.mark.parametrize("with_tvm", [
    pytest.param(True, marks=pytest.mark.skipif(not tvm_installed(), reason=TVM_REASON)), False])
def test_readme_snippets_run_as_copied(tmp_path: Path, with_tvm: bool) -> None:
    """All snippets; and all but the Apache TVM ones, as a reader without the interop extra."""
    # One file, so that decorated functions have a source file for their spans, as a user's do.
    parts = [f"# ---- README python snippet {i + 1}\n{code}"
             for i, code in enumerate(readme_snippets(with_tvm))]
    script = tmp_path / "readme_snippets.py"
    script.write_text("\n".join(parts))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600, env=_env_with_project_on_path())
    assert done.returncode == 0, f"{script}:\n{done.stderr[-4000:]}"


def _env_with_project_on_path() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env
