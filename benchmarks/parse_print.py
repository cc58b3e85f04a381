"""Parse and print speed: tools print and re-parse after every pass, so both must stay cheap.

Measures, in milliseconds (median of repeated runs, one process):
- the conformance matmul (96x80x72) and a 1024x1024x1024 matmul,
- a generated loop-level function of about 1,000 statements,
- a generated module of 50 kernels plus a graph-level function calling them.

Run: ``python benchmarks/parse_print.py``. The last lines are a table for BENCHMARKS.md.
"""

from __future__ import annotations

import platform
import statistics
import time
from pathlib import Path

import tvmscript
from tvmscript.ir import Stmt, post_order_visit

MATMUL_1024 = '''
@T.prim_func
def main(A: T.Buffer((1024, 1024), "float32"), B: T.Buffer((1024, 1024), "float32"), C: T.Buffer((1024, 1024), "float32")):
    T.func_attr({"global_symbol": "main", "tir.noalias": True})
    for i, j, k in T.grid(1024, 1024, 1024):
        with T.block("C"):
            vi, vj, vk = T.axis.remap("SSR", [i, j, k])
            with T.init():
                C[vi, vj] = T.float32(0)
            C[vi, vj] = C[vi, vj] + A[vi, vk] * B[vk, vj]
'''


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def generated_function(groups: int = 125) -> str:
    """About 8 statements a group: a loop, a block, a let, an if and stores."""
    lines = [
        "@T.prim_func",
        'def big(A: T.Buffer((64, 64), "float32"), B: T.Buffer((64, 64), "float32")):',
    ]
    for g in range(groups):
        lines += [
            f"    for i in range({g % 7 + 8}):",
            "        for j in range(64):",
            f'            with T.block("b{g}"):',
            "                vi, vj = T.axis.remap(\"SS\", [i, j])",
            f"                x: T.float32 = A[vi, vj] * T.float32({g}.5)",
            f"                if vj % {g % 5 + 2} == 0:",
            f"                    B[vi, vj] = x + A[vi, (vj + {g}) % 64]",
            "                else:",
            "                    B[vi, vj] = T.max(x, T.float32(0))",
        ]
    return "\n".join(lines) + "\n"


def generated_module(kernels: int = 50) -> str:
    lines = ["@I.ir_module", "class Module:"]
    for n in range(kernels):
        lines += [
            "    @T.prim_func",
            f'    def k{n}(A: T.Buffer((16, 16), "float32"), B: T.Buffer((16, 16), "float32")):',
            "        for i, j in T.grid(16, 16):",
            f'            with T.block("k{n}"):',
            "                vi, vj = T.axis.remap(\"SS\", [i, j])",
            f"                B[vi, vj] = A[vi, vj] * T.float32({n + 1}) + T.float32(1)",
            "",
        ]
    lines += [
        "    @R.function",
        '    def main(x: R.Tensor((16, 16), "float32")) -> R.Tensor((16, 16), "float32"):',
        "        cls = Module",
        "        with R.dataflow():",
    ]
    prev = "x"
    for n in range(kernels):
        lines.append(f'            lv{n} = R.call_tir(cls.k{n}, ({prev},), out_sinfo=R.Tensor((16, 16), "float32"))')
        prev = f"lv{n}"
    lines += [f"            R.output({prev})", f"        return {prev}", ""]
    return "\n".join(lines)


def median_ms(fn, repeat: int) -> float:
    fn()  # warm caches
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def count_statements(obj) -> int:
    count = 0

    def visit(node):
        nonlocal count
        count += isinstance(node, Stmt)

    post_order_visit(obj, visit)
    return count


def main() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.conformance import load_cases

    cases = {
        "conformance matmul_init (96x80x72)": load_cases()["matmul_init"].SOURCE,
        "matmul 1024^3": MATMUL_1024,
        "generated function": generated_function(),
        "generated module (50 kernels + graph fn)": generated_module(),
    }
    print(f"CPU: {cpu_model()}; Python {platform.python_version()}")
    rows = []
    for name, text in cases.items():
        obj = tvmscript.from_source(text)
        repeat = 30 if len(text) < 5000 else 7
        parse_ms = median_ms(lambda: tvmscript.from_source(text), repeat)
        print_ms = median_ms(obj.script, repeat)
        stmts = count_statements(obj)
        rows.append((name, stmts, parse_ms, print_ms))
    print()
    print("| program | statements | parse (ms) | print (ms) |")
    print("| --- | ---: | ---: | ---: |")
    for name, stmts, parse_ms, print_ms in rows:
        print(f"| {name} | {stmts} | {parse_ms:.2f} | {print_ms:.2f} |")


if __name__ == "__main__":
    main()
