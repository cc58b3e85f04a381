"""Compilation targets: ``Target.parse("llvm -mcpu=native")`` and host CPU feature detection.

The host CPU name that LLVM reports can be a model without features the machine really has (a
Sapphire Rapids VM reports ``rocketlake``, which lacks AMX), so an ``llvm`` target always carries
the host's feature list unless ``-mcpu=`` names another CPU (see shared/PLATFORM.md).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from functools import cache

KINDS = ("llvm", "interpreter", "c", "cuda")


@dataclass(frozen=True)
class Target:
    """A parsed target: its kind, and for ``llvm`` the CPU, features and any other options."""

    kind: str
    mcpu: str = ""
    mattr: tuple[str, ...] = ()
    options: tuple[tuple[str, str], ...] = field(default=())

    @staticmethod
    def parse(spec: str | Target) -> Target:
        """``"llvm"``, ``"llvm -mcpu=native"``, ``"llvm -mcpu=skylake-avx512 -mattr=+avx512f"``,
        ``"interpreter"``."""
        if isinstance(spec, Target):
            return spec
        words = shlex.split(str(spec))
        if not words or words[0] not in KINDS:
            raise ValueError(f"unknown target {spec!r}; expected one of {KINDS} and options")
        kind, mcpu, mattr, options = words[0], "", [], []
        for word in words[1:]:
            key, _, value = word.lstrip("-").partition("=")
            if key == "mcpu":
                mcpu = value
            elif key == "mattr":
                mattr.extend(a for a in value.split(",") if a)
            else:
                options.append((key, value))
        return Target(kind, mcpu, tuple(mattr), tuple(options))

    @property
    def cpu(self) -> str:
        """The CPU name handed to LLVM (``native`` and unset mean the host)."""
        if self.mcpu in ("", "native"):
            return host_cpu_name()
        return self.mcpu

    @property
    def features(self) -> str:
        """The LLVM feature string: the host's features (for the host CPU) plus ``-mattr``."""
        base = host_cpu_features() if self.mcpu in ("", "native") else ""
        extra = ",".join(a if a[0] in "+-" else "+" + a for a in self.mattr)
        return ",".join(x for x in (base, extra) if x)

    def has_feature(self, name: str) -> bool:
        """Whether code for this target may use ``name`` (``avx512f``, ``fma``, ...)."""
        flags = {f[1:]: f[0] == "+" for f in self.features.split(",") if f}
        return flags.get(name, False)

    def option(self, key: str, default: str = "") -> str:
        return dict(self.options).get(key, default)

    def __str__(self) -> str:
        parts = [self.kind]
        if self.mcpu:
            parts.append(f"-mcpu={self.mcpu}")
        if self.mattr:
            parts.append("-mattr=" + ",".join(self.mattr))
        parts.extend(f"-{k}={v}" if v else f"-{k}" for k, v in self.options)
        return " ".join(parts)


@cache
def host_cpu_name() -> str:
    import llvmlite.binding as llvm

    return llvm.get_host_cpu_name()


@cache
def host_cpu_features() -> str:
    import llvmlite.binding as llvm

    return llvm.get_host_cpu_features().flatten()


@cache
def _cpuinfo_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


# /proc/cpuinfo spells a few features differently from LLVM
_CPUINFO_ALIASES = {"amx-tile": "amx_tile", "amx-int8": "amx_int8", "amx-bf16": "amx_bf16",
                    "avx512vnni": "avx512_vnni", "avx512bf16": "avx512_bf16",
                    "avx512fp16": "avx512_fp16", "avxvnni": "avx_vnni", "sse4.1": "sse4_1",
                    "sse4.2": "sse4_2"}


def has_feature(name: str) -> bool:
    """Whether the host CPU has ``name`` (LLVM spelling, e.g. ``avx512f``, ``amx-tile``).

    True only when both LLVM and /proc/cpuinfo (where readable) agree, so tests skip
    hardware-specific cases on machines that lack the instructions.
    """
    llvm_flags = {f[1:]: f[0] == "+" for f in host_cpu_features().split(",") if f}
    in_llvm = llvm_flags.get(name, False)
    cpuinfo = _cpuinfo_flags()
    if not cpuinfo:
        return in_llvm
    return in_llvm and (_CPUINFO_ALIASES.get(name, name.replace("-", "_")) in cpuinfo)


def host_features() -> frozenset[str]:
    """Every feature LLVM reports enabled on the host."""
    return frozenset(f[1:] for f in host_cpu_features().split(",") if f.startswith("+"))


# generic x86-64 levels and the host features each needs (named CPUs cannot be checked this way)
_X86_LEVELS = {
    "x86-64": (),
    "x86-64-v2": ("sse4.2", "popcnt"),
    "x86-64-v3": ("avx2", "fma", "bmi2"),
    "x86-64-v4": ("avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"),
}


def cross_compile_reason(target: "Target") -> str | None:
    """Why code for ``target`` must not run in this process (None when it may): a named CPU
    other than this one, or ``-mattr`` features this CPU lacks, would crash it (SIGILL)."""
    if target.kind != "llvm":
        return None
    missing = [a[1:] for a in target.mattr if a.startswith("+") and not has_feature(a[1:])]
    if missing:
        return f"-mattr asks for {', '.join(missing)}, which this CPU ({host_cpu_name()}) lacks"
    cpu = target.mcpu
    if cpu in ("", "native", host_cpu_name()):
        return None
    if cpu in _X86_LEVELS:
        lacking = [f for f in _X86_LEVELS[cpu] if not has_feature(f)]
        return f"this CPU lacks {', '.join(lacking)} for {cpu}" if lacking else None
    return f"it was compiled for -mcpu={cpu}, not for this CPU ({host_cpu_name()})"


__all__ = ["cross_compile_reason", "Target", "has_feature", "host_cpu_features", "host_cpu_name", "host_features"]
