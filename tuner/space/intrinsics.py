"""Which registered tensor intrinsics a target can use (issue 5's x86 set: FMA, VNNI, AMX)."""

from __future__ import annotations

from backends.target import Target
from tvmscript.schedule.tensor_intrin import TensorIntrin


def available_intrinsics(target: Target | str) -> list[str]:
    """Names of the built-in intrinsics that ``target`` has every CPU feature for and this
    machine can run (the built-ins register only what the host has; a cross target gets none)."""
    target = Target.parse(target)
    if target.kind != "llvm" or not target.is_host_triple:
        return []
    from backends.intrinsics.x86 import X86_INTRINSICS, available

    registered = set(TensorIntrin.list())
    return [name for name, (features, _) in X86_INTRINSICS.items()
            if name in registered and available(name)
            and all(target.has_feature(f) for f in features)]
