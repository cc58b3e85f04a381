"""One program through both stacks, each way, and what happened at each step.

``check_both_ways`` is what the interop tests assert on and what ``benchmarks/tvm_interop.py``
counts:

* **ours → TVM**: our parse of the source, printed with ``dialect="tvm"``, must parse in TVM and be
  TVM-structurally-equal to TVM's own parse of the source (respelled by ``tvm_spelling``);
* **TVM → ours**: TVM's printed text of its parse must parse here and be structurally equal to
  our parse of the source;
* **through TVM**: our tvm-dialect text, parsed and printed by TVM, parses here back to our IR
  (this needs no TVM reading of the source, so it also covers programs TVM cannot parse as written).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import tvmscript

from .tvm_bridge import TVMBridge
from .tvm_spelling import tvm_spelling


@dataclass
class Outcome:
    name: str
    tvm_reads_source: bool = False   # TVM parses the (respelled) source
    tvm_reads_ours: bool = False     # TVM parses our tvm-dialect text
    ours_to_tvm: bool | None = None  # parses in TVM and equals TVM's parse of the source
    tvm_to_ours: bool | None = None  # TVM's text parses here and equals our parse
    through_tvm: bool | None = None  # ours -> TVM -> TVM's text -> ours is the same IR
    problems: list[str] = field(default_factory=list)

    def say(self, step: str, detail: str) -> None:
        self.problems.append(f"{step}: {detail.strip()[-600:]}")


def _ours_equal(left, right) -> str | None:
    """None when equal, else our first mismatch."""
    try:
        tvmscript.assert_structural_equal(left, right)
    except AssertionError as exc:
        return str(exc).split("--- lhs ---")[0]
    return None


def check_both_ways(bridge: TVMBridge, name: str, source: str) -> Outcome:
    out = Outcome(name)
    ours = tvmscript.from_source(source)
    ours_text = ours.script(dialect="tvm")
    reference = bridge.parse(tvm_spelling(source))
    out.tvm_reads_source = reference["ok"]
    if not reference["ok"]:
        out.say("TVM parsing the source", reference["error"])

    in_tvm = bridge.parse(ours_text)
    out.tvm_reads_ours = in_tvm["ok"]
    if not in_tvm["ok"]:
        out.ours_to_tvm = out.through_tvm = False
        out.say("TVM parsing our text", in_tvm["error"])
    else:
        if reference["ok"]:
            same = bridge.equal(ours_text, tvm_spelling(source))
            out.ours_to_tvm = bool(same.get("equal"))
            if not out.ours_to_tvm:
                out.say("ours -> TVM", same.get("mismatch") or same.get("error", ""))
        out.through_tvm = _reparse(out, "through TVM", in_tvm["script"], ours)

    if reference["ok"]:
        out.tvm_to_ours = _reparse(out, "TVM -> ours", reference["script"], ours)
    return out


def _reparse(out: Outcome, step: str, tvm_text: str, ours) -> bool:
    try:
        back = tvmscript.from_source(tvm_text)
    except Exception as exc:  # noqa: BLE001 - the outcome records it
        out.say(step + " (parse)", str(exc))
        return False
    mismatch = _ours_equal(back, ours)
    if mismatch is not None:
        out.say(step, mismatch)
        return False
    return True
