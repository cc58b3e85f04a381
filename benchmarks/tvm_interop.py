"""How many programs move between tvmscript and Apache TVM 0.27, each way.

    python -m benchmarks.tvm_interop [-v] [name-substring ...]

Counts, over the corpus and the conformance cases, the three checks of
``tests/interop/round_trip.py``; ``-v`` prints what went wrong for each program that failed one.
Then times parsing and printing all of those programs' tvm-dialect text here and in TVM 0.27
(its worker process), alternating the two sides, best of seven rounds, as a ratio.
Needs the ``interop`` extra (``pip install -e ".[interop]"``).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tvmscript  # noqa: E402
from benchmarks.parse_print import cpu_model  # noqa: E402
from tests.interop.programs import interop_programs  # noqa: E402
from tests.interop.round_trip import check_both_ways  # noqa: E402
from tests.interop.tvm_bridge import TVM_REASON, TVMBridge, tvm_installed  # noqa: E402


def _parse_print_times(bridge: TVMBridge, texts: list[str]) -> tuple[float, float]:
    """Best of seven rounds each, the two sides alternating so that load hits both alike."""
    ours, theirs = [], []
    for _ in range(7):
        start = time.perf_counter()
        for text in texts:
            tvmscript.from_source(text).script(dialect="tvm")
        ours.append(time.perf_counter() - start)
        answer = bridge.request("time_parse_print", texts=texts)
        theirs.append(answer["seconds"])
    return min(ours), min(theirs)


def main(argv: list[str]) -> int:
    if not tvm_installed():
        print(TVM_REASON)
        return 0
    verbose = "-v" in argv
    wanted = [a for a in argv if a != "-v"]
    programs = {k: v for k, v in interop_programs().items()
                if not wanted or any(w in k for w in wanted)}
    bridge = TVMBridge()
    start = time.perf_counter()
    outcomes = [check_both_ways(bridge, name, src) for name, src in programs.items()]
    n = len(outcomes)

    def count(field: str) -> str:
        done = [o for o in outcomes if getattr(o, field) is not None]
        return f"{sum(bool(getattr(o, field)) for o in done)}/{len(done)}"

    print(f"programs: {n}; TVM parses the source as written (respelled): "
          f"{sum(o.tvm_reads_source for o in outcomes)}/{n}")
    print(f"TVM parses our tvm-dialect text:    {sum(o.tvm_reads_ours for o in outcomes)}/{n}")
    print(f"ours -> TVM, equal to TVM's parse:  {count('ours_to_tvm')}")
    print(f"TVM -> ours, equal to our parse:    {count('tvm_to_ours')}")
    print(f"ours -> TVM -> ours, same IR:       {count('through_tvm')}")
    print(f"({time.perf_counter() - start:.1f} s)")
    if not wanted:
        texts = [tvmscript.from_source(src).script(dialect="tvm") for src in programs.values()]
        ours, theirs = _parse_print_times(bridge, texts)
        print(f"parse + print of the {len(texts)} tvm-dialect texts, best of 7: tvmscript "
              f"{ours * 1e3:.0f} ms, TVM 0.27 {theirs * 1e3:.0f} ms "
              f"(TVM / tvmscript = {theirs / ours:.2f}x); {cpu_model()}, "
              f"load average {os.getloadavg()[0]:.2f}")
        bridge.close()
    if wanted:
        bridge.close()
    for o in outcomes:
        if o.problems and (verbose or wanted):
            print(f"\n== {o.name}")
            for p in o.problems:
                print("   " + p.replace("\n", "\n   "))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
