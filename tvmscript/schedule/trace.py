"""The trace: every primitive a schedule applied, with its inputs, outputs and decisions.

It prints as Python that rebuilds the schedule (``print(sch.trace)``), replays on a fresh copy
of the function (``trace.apply_to(func)``), replays with some sampling decisions changed (what
the tuner's mutator does), and saves to / loads from JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .handles import BlockRV, IntRV, LoopRV

if TYPE_CHECKING:  # pragma: no cover
    from .schedule import Schedule

POSTPROC_MARK = "enter_postproc"
"""The kind of the marker instruction that separates a sketch (rules and sampling) from what
postprocessors derived from its decisions (the tuner's parallel/vectorize/unroll rewriting).
Replay keeps the marker and calls nothing for it; ``Trace.sketch()`` cuts the trace there, so a
mutated sketch is replayed and postprocessed afresh instead of replaying stale derived steps."""


@dataclass(frozen=True)
class Instruction:
    """One primitive call. ``outputs`` is what it returned: None, a handle, or a list of them."""

    kind: str
    inputs: tuple[Any, ...]
    attrs: dict[str, Any]
    outputs: Any
    decision: Any = None


@dataclass
class Trace:
    instructions: list[Instruction] = field(default_factory=list)

    def append(self, inst: Instruction) -> None:
        self.instructions.append(inst)

    def __len__(self) -> int:
        return len(self.instructions)

    def truncate(self, n: int) -> None:
        del self.instructions[n:]

    # ------------------------------------------------------------ python text
    def as_python(self) -> str:
        names = _Names()
        lines = []
        for inst in self.instructions:
            if inst.kind == POSTPROC_MARK:
                lines.append(f"# {POSTPROC_MARK}: the rest was derived from the decisions above")
                continue
            args = [names.value(v) for v in inst.inputs]
            args += [f"{k}={names.value(v)}" for k, v in inst.attrs.items()]
            if inst.decision is not None:
                args.append(f"decision={names.value(inst.decision)}")
            call = f"sch.{inst.kind}({', '.join(args)})"
            target = names.define(inst.outputs)
            lines.append(f"{target} = {call}" if target else call)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.as_python()

    # ------------------------------------------------------------ replay
    def apply_to(self, obj: Any, decisions: dict[int, Any] | None = None, seed: int | None = None,
                 func_name: str | None = None, redraw: bool = False) -> Schedule:
        """A new schedule of ``obj`` with these instructions replayed.

        ``decisions`` maps an instruction's index to a replacement decision (mutation); an
        invalid decision raises the primitive's ScheduleError. ``redraw``: the other sampling
        instructions draw afresh (from ``seed``).
        """
        from .schedule import Schedule

        sch = Schedule(obj, seed=seed, func_name=func_name)
        self.replay(sch, decisions, redraw)
        return sch

    def replay(self, sch: Schedule, decisions: dict[int, Any] | None = None,
               redraw: bool = False) -> None:
        """Replay onto ``sch``. With ``redraw``, every sampling instruction not named in
        ``decisions`` draws a fresh decision from ``sch.rng`` (a new candidate of a sketch)."""
        for index in decisions or {}:
            self._check_sampling(index)
        mapping: dict[int, Any] = {}
        for index, inst in enumerate(self.instructions):
            if inst.kind == POSTPROC_MARK:
                sch.trace.append(inst)
                continue
            args = [_remap(v, mapping) for v in inst.inputs]
            kwargs = {k: _remap(v, mapping) for k, v in inst.attrs.items()}
            decision = (decisions or {}).get(index, None if redraw else inst.decision)
            if decision is not None:
                kwargs["decision"] = decision
            primitive = getattr(sch, inst.kind, None)
            if primitive is None:
                from .schedule import ScheduleError

                raise ScheduleError(
                    f"instruction {index} uses the primitive {inst.kind!r}, which is not "
                    "registered in this process; import the package that registers it first "
                    "(the tuner's rules register theirs: `import tuner.space`)")
            result = primitive(*args, **kwargs)
            _bind_outputs(inst.outputs, result, mapping)

    def with_decision(self, index: int, decision: Any) -> Trace:
        """A copy of this trace with instruction ``index`` (a sampling one) deciding ``decision``."""
        self._check_sampling(index)
        insts = list(self.instructions)
        insts[index] = replace(insts[index], decision=decision)
        return Trace(insts)

    def _check_sampling(self, index: int) -> None:
        if not 0 <= index < len(self.instructions) or self.instructions[index].decision is None:
            kind = self.instructions[index].kind if 0 <= index < len(self.instructions) else None
            raise ValueError(f"instruction {index} ({kind or 'out of range'}) is not a sampling "
                             f"instruction; sampling ones are {self.sampling_indices()}")

    def sketch(self) -> Trace:
        """The instructions before the postprocessing marker (all of them when there is none)."""
        for index, inst in enumerate(self.instructions):
            if inst.kind == POSTPROC_MARK:
                return Trace(self.instructions[:index])
        return Trace(list(self.instructions))

    def decisions(self) -> dict[int, Any]:
        """Each sampling instruction's index and decision."""
        return {i: self.instructions[i].decision for i in self.sampling_indices()}

    def sampling_indices(self) -> list[int]:
        return [i for i, inst in enumerate(self.instructions) if inst.decision is not None]

    # ------------------------------------------------------------ json
    def to_json(self) -> str:
        names = _Names()
        records = []
        for inst in self.instructions:
            records.append({
                "kind": inst.kind,
                "inputs": [names.encode(v) for v in inst.inputs],
                "attrs": {k: names.encode(v) for k, v in inst.attrs.items()},
                "decision": names.encode(inst.decision),
                "outputs": names.encode_outputs(inst.outputs),
            })
        return json.dumps({"format": "tvmscript-trace", "version": 1, "instructions": records}, indent=1)

    @staticmethod
    def from_json(text: str) -> Trace:
        data = json.loads(text)
        if data.get("format") != "tvmscript-trace":
            raise ValueError("not a tvmscript trace (missing format tag)")
        rvs: dict[str, Any] = {}
        insts = []
        for rec in data["instructions"]:
            insts.append(Instruction(
                rec["kind"],
                tuple(_decode(v, rvs) for v in rec["inputs"]),
                {k: _decode(v, rvs) for k, v in rec["attrs"].items()},
                _decode(rec["outputs"], rvs, defining=True),
                _decode(rec["decision"], rvs),
            ))
        return Trace(insts)


def _remap(value: Any, mapping: dict[int, Any]) -> Any:
    if isinstance(value, (BlockRV, LoopRV, IntRV)):
        if value.rv_id in mapping:
            return mapping[value.rv_id]
        # a handle no instruction produced (made by hand): blocks are found by name and loops by
        # variable, so it still works on the same function; a hand-made IntRV is its value
        return int(value) if isinstance(value, IntRV) else value
    if isinstance(value, (list, tuple)):
        return type(value)(_remap(v, mapping) for v in value)
    return value


def _bind_outputs(recorded: Any, produced: Any, mapping: dict[int, Any]) -> None:
    if isinstance(recorded, (BlockRV, LoopRV, IntRV)):
        mapping[recorded.rv_id] = produced
    elif isinstance(recorded, (list, tuple)):
        for r, p in zip(recorded, produced):
            _bind_outputs(r, p, mapping)


class _Names:
    """Readable names for handles: b0 (blocks), l1 (loops), v2 (sampled integers)."""

    def __init__(self) -> None:
        self.names: dict[int, str] = {}

    def _new(self, rv: Any) -> str:
        prefix = "b" if isinstance(rv, BlockRV) else "l" if isinstance(rv, LoopRV) else "v"
        name = f"{prefix}{len(self.names)}"
        self.names[rv.rv_id] = name
        return name

    def define(self, outputs: Any) -> str:
        if outputs is None:
            return ""
        if isinstance(outputs, (list, tuple)):
            parts = [self._new(o) for o in outputs]
            return ", ".join(parts) + ("," if len(parts) == 1 else "") if parts else "_"
        return self._new(outputs)

    def value(self, v: Any) -> str:
        if isinstance(v, IntRV) and v.rv_id not in self.names:
            return repr(int(v))  # an IntRV no instruction produced is just its value
        if isinstance(v, (BlockRV, LoopRV, IntRV)):
            return self.names.get(v.rv_id, repr(v))
        if isinstance(v, list):
            return "[" + ", ".join(self.value(x) for x in v) + "]"
        if isinstance(v, tuple):
            return "(" + ", ".join(self.value(x) for x in v) + ("," if len(v) == 1 else "") + ")"
        if hasattr(v, "as_python"):
            return v.as_python()
        return repr(v)

    def encode(self, v: Any) -> Any:
        if isinstance(v, IntRV) and v.rv_id not in self.names:
            return int(v)
        if isinstance(v, (BlockRV, LoopRV, IntRV)):
            if v.rv_id not in self.names:
                raise ValueError(f"cannot save {v!r} to JSON: no instruction of the trace produced it "
                                 "(get handles with sch.get_block / sch.get_loops)")
            return {"rv": self.names[v.rv_id]}
        if isinstance(v, (list, tuple)):
            return {"tuple": [self.encode(x) for x in v]} if isinstance(v, tuple) else [self.encode(x) for x in v]
        if hasattr(v, "to_json_value"):
            return v.to_json_value()
        return v

    def encode_outputs(self, outputs: Any) -> Any:
        if outputs is None:
            return None
        if isinstance(outputs, (list, tuple)):
            return [self.encode_outputs(o) for o in outputs]
        self._new(outputs)
        return {"rv": self.names[outputs.rv_id]}


def _decode(v: Any, rvs: dict[str, Any], defining: bool = False) -> Any:
    if isinstance(v, list):
        return [_decode(x, rvs, defining) for x in v]
    if isinstance(v, dict):
        if "rv" in v:
            name = v["rv"]
            if defining:
                rvs[name] = _placeholder(name)
            return rvs[name]
        if "tuple" in v:
            return tuple(_decode(x, rvs, defining) for x in v["tuple"])
        if "index_map" in v:
            from .index_map import IndexMap

            return IndexMap.from_json_value(v)
        return {k: _decode(x, rvs, defining) for k, x in v.items()}
    return v


def _placeholder(name: str) -> Any:
    from ..ir.expr import Var

    if name.startswith("b"):
        return BlockRV(name)
    if name.startswith("l"):
        return LoopRV(Var(name))
    return IntRV(0)
