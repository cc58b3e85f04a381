"""Runs in its own process and answers requests about Apache TVM, one JSON object per line.

TVM is driven from a separate process because a crash inside it (a segfault in its C++ runtime)
would otherwise take the whole test session with it; ``tvm_bridge`` restarts the worker and reports
the request that killed it. Requests carry script text only, so nothing but strings crosses over.
"""

from __future__ import annotations

import json
import sys
import traceback


def _namespaces() -> dict:
    import tvm  # the metadata section of a show_meta text calls tvm.ir.load_json
    from tvm.script import ir as I
    from tvm.script import relax as R
    from tvm.script import tirx as T

    return {"T": T, "R": R, "I": I, "tvm": tvm}


def _parse(text: str):
    import tvm

    return tvm.script.from_source(text, extra_vars=_namespaces())


def _error(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return "\n".join(lines[-12:]) or type(exc).__name__


def op_parse(request: dict) -> dict:
    """Parse ``text`` in TVM and print it back with TVM's printer."""
    try:
        obj = _parse(request["text"])
    except Exception as exc:  # noqa: BLE001 - the error text is the answer
        return {"ok": False, "error": _error(exc)}
    return {"ok": True, "script": _script(obj)}


def _script(obj) -> str:
    """TVM's text with its metadata section (constants), which the default printing omits."""
    try:
        return obj.script(show_meta=True)
    except TypeError:  # objects whose script() takes no options
        return obj.script()


def op_equal(request: dict) -> dict:
    """Parse ``left`` and ``right`` in TVM and compare them with TVM's structural equality."""
    import tvm_ffi

    parsed = []
    for side in ("left", "right"):
        try:
            parsed.append(_parse(request[side]))
        except Exception as exc:  # noqa: BLE001
            return {"ok": False, "side": side, "error": _error(exc)}
    left, right = parsed
    if tvm_ffi.structural_equal(left, right, map_free_vars=True):
        return {"ok": True, "equal": True}
    mismatch = tvm_ffi.get_first_structural_mismatch(left, right, map_free_vars=True)
    return {"ok": True, "equal": False, "mismatch": str(mismatch)}


def op_schedule(request: dict) -> dict:
    """Apply a named schedule recipe (``tests/interop/tvm_recipes.py``) in TVM and print the result."""
    from tests.interop import tvm_recipes

    try:
        func = _parse(request["text"])
        scheduled = getattr(tvm_recipes, request["recipe"])(func)
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": _error(exc)}
    return {"ok": True, "script": _script(scheduled)}


def op_time_parse_print(request: dict) -> dict:
    """Seconds TVM takes to parse and print every text once (for benchmarks/tvm_interop.py)."""
    import time

    start = time.perf_counter()
    for text in request["texts"]:
        _parse(text).script()
    return {"ok": True, "seconds": time.perf_counter() - start}


def op_version(request: dict) -> dict:
    import tvm
    import tvm_ffi

    return {"ok": True, "tvm": tvm.__version__, "tvm_ffi": tvm_ffi.__version__}


OPS = {"parse": op_parse, "equal": op_equal, "schedule": op_schedule, "version": op_version,
       "time_parse_print": op_time_parse_print}


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        try:
            answer = OPS[request["op"]](request)
        except Exception:  # noqa: BLE001 - report, keep serving
            answer = {"ok": False, "error": traceback.format_exc()}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
