"""Which CPU features an ``llvm.x86.*`` intrinsic needs.

LLVM aborts the whole process ("Do not know how to split the result of this operator") when
it must select an instruction the target lacks, so code generation checks first and raises a
Python error naming the missing feature.
"""

from __future__ import annotations

# (name prefix, alternatives: any one set of features suffices), most specific prefix first
_RULES: list[tuple[str, list[frozenset[str]]]] = [
    ("llvm.x86.avx512.vpdpbusd.512", [frozenset({"avx512vnni"})]),
    ("llvm.x86.avx512.vpdpbusds.512", [frozenset({"avx512vnni"})]),
    ("llvm.x86.avx512.vpdpwssd.512", [frozenset({"avx512vnni"})]),
    ("llvm.x86.avx512.vpdpwssds.512", [frozenset({"avx512vnni"})]),
    ("llvm.x86.avx512.vpdp", [frozenset({"avxvnni"}), frozenset({"avx512vnni", "avx512vl"})]),
    ("llvm.x86.avx512bf16.", [frozenset({"avx512bf16"})]),
    ("llvm.x86.avx512fp16.", [frozenset({"avx512fp16"})]),
    ("llvm.x86.avx512.", [frozenset({"avx512f"})]),
    ("llvm.x86.avx2.", [frozenset({"avx2"})]),
    ("llvm.x86.avx.", [frozenset({"avx"})]),
    ("llvm.x86.fma.", [frozenset({"fma"})]),
    ("llvm.x86.tdpbf16ps", [frozenset({"amx-bf16"})]),
    ("llvm.x86.tdpb", [frozenset({"amx-int8"})]),
    ("llvm.x86.tile", [frozenset({"amx-tile"})]),
    ("llvm.x86.ldtilecfg", [frozenset({"amx-tile"})]),
    ("llvm.x86.sttilecfg", [frozenset({"amx-tile"})]),
]


def missing_features(name: str, has_feature) -> list[str] | None:
    """None when ``name`` may be used; otherwise the features of the first alternative."""
    for prefix, alternatives in _RULES:
        if name.startswith(prefix):
            if any(all(has_feature(f) for f in alt) for alt in alternatives):
                return None
            return sorted(alternatives[0])
    return None
