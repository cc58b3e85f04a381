"""Instruments for ``PassContext``: watch, time and check every pass a pipeline runs.

Usage::

    timer = PassTimer()
    with PassContext(instruments=[PrintIR(before=False), timer, VerifyWellFormed()]):
        mod = Sequential([get_pass("simplify"), my_pass])(mod)
    print(timer.report())

Why instruments rather than flags on passes: a pass stays a plain function, and what one wants to
see (IR, diffs, timings, checks) is chosen once, where the pipeline is run.
"""

from __future__ import annotations

import difflib
import sys
import time
from typing import TextIO
from collections.abc import Callable, Collection

from tvmscript.ir import IRModule, WellFormedError, check_well_formed

from .infra import Pass, PassInstrument

__all__ = ["PassTimer", "PassVerificationError", "PrintDiff", "PrintIR", "VerifyWellFormed"]

PassFilter = Collection[str] | Callable[[Pass], bool] | None


def _selected(only: PassFilter, p: Pass) -> bool:
    if only is None:
        return True
    if callable(only):
        return bool(only(p))
    return p.name in only


def _script(mod: IRModule) -> str:
    try:
        return mod.script()
    except Exception as exc:  # an ill-formed module may not print; say so instead of failing
        return f"<cannot print the module: {type(exc).__name__}: {exc}>"


def _header(text: str) -> str:
    return f"# {'-' * 8} {text} {'-' * max(8, 60 - len(text))}"


class _Printing(PassInstrument):
    """Shared by the printing instruments: where to write and which passes to show."""

    def __init__(self, stream: TextIO | None, only: PassFilter) -> None:
        self.stream = stream
        self.only = only

    def write(self, text: str) -> None:
        out = self.stream if self.stream is not None else sys.stdout  # the current stdout
        out.write(text if text.endswith("\n") else text + "\n")


class PrintIR(_Printing):
    """Print the module as script before and/or after each pass (``only``: names or a predicate).

    Output::

        # -------- before pass 'simplify' ----------------------------
        @T.prim_func
        def main(...): ...
    """

    def __init__(self, before: bool = True, after: bool = True, stream: TextIO | None = None,
                 only: PassFilter = None) -> None:
        super().__init__(stream, only)
        self.before, self.after = before, after

    def run_before_pass(self, mod: IRModule, p: Pass) -> None:
        if self.before and _selected(self.only, p):
            self.write(f"{_header(f'before pass {p.name!r}')}\n{_script(mod)}")

    def run_after_pass(self, mod: IRModule, p: Pass) -> None:
        if self.after and _selected(self.only, p):
            self.write(f"{_header(f'after pass {p.name!r}')}\n{_script(mod)}")


class PrintDiff(_Printing):
    """Print a unified diff of the script before and after each pass (nothing when unchanged,
    unless ``show_unchanged``)."""

    def __init__(self, stream: TextIO | None = None, only: PassFilter = None,
                 context: int = 3, show_unchanged: bool = False) -> None:
        super().__init__(stream, only)
        self.context, self.show_unchanged = context, show_unchanged
        self._before: list[tuple[Pass, IRModule]] = []

    def run_before_pass(self, mod: IRModule, p: Pass) -> None:
        self._before.append((p, mod))

    def run_after_pass(self, mod: IRModule, p: Pass) -> None:
        old = _pop_matching(self._before, p)
        if old is None or not _selected(self.only, p):
            return
        if old is mod:
            if self.show_unchanged:
                self.write(f"{_header(f'pass {p.name!r}')}\n(no change)")
            return
        diff = difflib.unified_diff(_script(old).splitlines(), _script(mod).splitlines(),
                                    f"before {p.name}", f"after {p.name}", lineterm="",
                                    n=self.context)
        text = "\n".join(diff) or "(no textual change)"
        self.write(f"{_header(f'pass {p.name!r}')}\n{text}")


class PassTimer(PassInstrument):
    """Wall time per pass: ``timings`` (seconds, summed by name), ``counts``, ``records`` (every
    run in order) and ``report()`` (a text table, slowest first). A pass run inside another is
    timed on its own and also counts towards the outer one."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.records: list[tuple[str, float]] = []
        self._started: list[tuple[Pass, float]] = []

    def run_before_pass(self, mod: IRModule, p: Pass) -> None:
        self._started.append((p, time.perf_counter()))

    def run_after_pass(self, mod: IRModule, p: Pass) -> None:
        start = _pop_matching(self._started, p)
        if start is None:
            return
        elapsed = time.perf_counter() - start
        self.timings[p.name] = self.timings.get(p.name, 0.0) + elapsed
        self.counts[p.name] = self.counts.get(p.name, 0) + 1
        self.records.append((p.name, elapsed))

    def total(self) -> float:
        return sum(elapsed for _, elapsed in self.records)

    def report(self) -> str:
        rows = sorted(self.timings.items(), key=lambda item: -item[1])
        width = max([len("pass"), *(len(name) for name, _ in rows)])
        lines = [f"{'pass':<{width}}  {'runs':>4}  {'ms':>9}", "-" * (width + 17)]
        for name, seconds in rows:
            lines.append(f"{name:<{width}}  {self.counts[name]:>4}  {seconds * 1e3:>9.3f}")
        lines.append(f"{'total':<{width}}  {len(self.records):>4}  {self.total() * 1e3:>9.3f}")
        return "\n".join(lines)


class PassVerificationError(WellFormedError):
    """A pass turned a well-formed program into an ill-formed one; ``pass_name`` says which."""

    def __init__(self, problems: list, pass_name: str) -> None:
        super().__init__(problems)
        self.pass_name = pass_name


class VerifyWellFormed(PassInstrument):
    """Run ``tvmscript.verify`` after every pass; blame the pass that broke the program.

    A pass is blamed only when its input was well-formed (the input is checked only then,
    so a well-formed pipeline pays one check per pass).
    """

    def __init__(self) -> None:
        self._inputs: list[tuple[Pass, IRModule]] = []

    def run_before_pass(self, mod: IRModule, p: Pass) -> None:
        self._inputs.append((p, mod))

    def run_after_pass(self, mod: IRModule, p: Pass) -> None:
        before = _pop_matching(self._inputs, p)
        problems = check_well_formed(mod)
        if not problems or (before is not None and check_well_formed(before)):
            return
        error = PassVerificationError(problems, p.name)
        error.add_note(f"pass {p.name!r} produced this ill-formed program from a well-formed "
                       f"one; the lines are those of its script:")
        error.add_note(_numbered(_script(mod)))
        raise error


def _numbered(text: str, limit: int = 200) -> str:
    lines = text.splitlines()
    shown = [f"{n:4d} | {line}" for n, line in enumerate(lines[:limit], 1)]
    if len(lines) > limit:
        shown.append(f"     | ... ({len(lines) - limit} more lines)")
    return "\n".join(shown)


def _pop_matching(stack: list, p: Pass):
    """The value pushed for ``p`` by ``run_before_pass`` (a pass that raised leaves its entry
    behind, so search from the top)."""
    for k in range(len(stack) - 1, -1, -1):
        if stack[k][0] is p:
            value = stack[k][1]
            del stack[k:]
            return value
    return None
