"""Compilation targets: ``Target.parse("llvm -mcpu=native")`` and host CPU feature detection.

The host CPU name that LLVM reports can be a model without features the machine really has (a
Sapphire Rapids VM reports ``rocketlake``, which lacks AMX), so an ``llvm`` target always carries
the host's feature list unless ``-mcpu=`` names another CPU (see shared/PLATFORM.md).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from functools import cache

KINDS = ("llvm", "interpreter", "c", "cuda", "cuda-emulator")

# the options each kind takes, and the values an option accepts (None: any value)
_LLVM_OPTIONS: dict[str, tuple[str, ...] | None] = {
    "fp-contract": ("fast", "off"), "mattr": None, "mcpu": None, "mtriple": None,
    "parallel": ("gomp", "pthread"),
}
# ``cuda -arch=sm_90``: the GPU architecture NVRTC compiles for and whose limits (threads and
# shared memory per block) lowering checks; the emulator takes the same options so a kernel it
# accepts fits the GPU it stands in for
_CUDA_OPTIONS: dict[str, tuple[str, ...] | None] = {
    "arch": None, "max_threads_per_block": None, "max_shared_memory_per_block": None,
}
OPTIONS: dict[str, dict[str, tuple[str, ...] | None]] = {
    "llvm": _LLVM_OPTIONS, "c": _LLVM_OPTIONS, "interpreter": {}, "cuda": _CUDA_OPTIONS,
    "cuda-emulator": _CUDA_OPTIONS,
}
DEFAULT_CUDA_ARCH = "sm_80"


@dataclass(frozen=True)
class Target:
    """A parsed target: its kind, and for ``llvm`` the CPU, features, triple and other options."""

    kind: str
    mcpu: str = ""
    mattr: tuple[str, ...] = ()
    options: tuple[tuple[str, str], ...] = field(default=())
    mtriple: str = ""  # empty: this process's triple

    @staticmethod
    def parse(spec: str | Target) -> Target:
        """``"llvm"``, ``"llvm -mcpu=native"``, ``"llvm -mcpu=skylake-avx512 -mattr=+avx512f"``,
        ``"llvm -mtriple=aarch64-linux-gnu"``, ``"interpreter"``. An option the kind does not
        take is an error (it used to be ignored, so a typo silently built for the host)."""
        if isinstance(spec, Target):
            return spec
        words = shlex.split(str(spec))
        if not words or words[0] not in KINDS:
            raise ValueError(f"unknown target {spec!r}; expected one of {KINDS} and options")
        kind, mcpu, mattr, mtriple, options = words[0], "", [], "", []
        for word in words[1:]:
            key, value = _check_option(kind, word, str(spec))
            if key == "mcpu":
                mcpu = value
            elif key == "mattr":
                mattr.extend(a for a in value.split(",") if a)
            elif key == "mtriple":
                mtriple = value
            else:
                options.append((key, value))
        target = Target(kind, mcpu, tuple(mattr), tuple(options), mtriple)
        _check_native_cpu(target, str(spec))
        _check_cuda_options(target, str(spec))
        return target

    @property
    def triple(self) -> str:
        """The LLVM triple code is generated for (``-mtriple``, else this process's)."""
        return self.mtriple or process_triple()

    @property
    def is_host_triple(self) -> bool:
        """Whether this machine can run code for ``triple`` (same architecture and OS)."""
        return not self.mtriple or same_machine(self.mtriple, process_triple())

    @property
    def cpu(self) -> str:
        """The CPU name handed to LLVM (``native`` and unset mean the host)."""
        if self.mcpu in ("", "native"):
            return host_cpu_name() if self.is_host_triple else "generic"
        return self.mcpu

    @property
    def features(self) -> str:
        """The LLVM feature string: the host's features (for the host CPU) plus ``-mattr``."""
        native = self.mcpu in ("", "native") and self.is_host_triple
        base = host_cpu_features() if native else ""
        extra = ",".join(a if a[0] in "+-" else "+" + a for a in self.mattr)
        return ",".join(x for x in (base, extra) if x)

    def has_feature(self, name: str) -> bool:
        """Whether code for this target may use ``name`` (``avx512f``, ``fma``, ...)."""
        flags = {f[1:]: f[0] == "+" for f in self.features.split(",") if f}
        return flags.get(name, False)

    @property
    def is_cuda(self) -> bool:
        """Whether kernels for this target run with GPU semantics (on a GPU or the emulator)."""
        return self.kind in ("cuda", "cuda-emulator")

    @property
    def arch(self) -> str:
        """The GPU architecture (``sm_80``) of a cuda target: ``-arch=``, else ``sm_80``."""
        return self.option("arch", DEFAULT_CUDA_ARCH)

    def option(self, key: str, default: str = "") -> str:
        return dict(self.options).get(key, default)

    def __str__(self) -> str:
        parts = [self.kind]
        if self.mcpu:
            parts.append(f"-mcpu={self.mcpu}")
        if self.mattr:
            parts.append("-mattr=" + ",".join(self.mattr))
        if self.mtriple:
            parts.append(f"-mtriple={self.mtriple}")
        parts.extend(f"-{k}={v}" if v else f"-{k}" for k, v in self.options)
        return " ".join(parts)


def _check_option(kind: str, word: str, spec: str) -> tuple[str, str]:
    """``-key=value`` split, with the key and value checked against what ``kind`` takes."""
    key, _, value = word.lstrip("-").partition("=")
    known = OPTIONS[kind]
    if key not in known:
        takes = ", ".join(f"-{k}" for k in sorted(known)) if known else "no options"
        raise ValueError(f"unknown option '-{key}' in target '{spec}'; {kind} takes {takes}")
    if not value:
        raise ValueError(f"-{key} needs a value in target '{spec}' (-{key}=...)")
    allowed = known[key]
    if allowed is not None and value not in allowed:
        raise ValueError(f"-{key}={value} in target '{spec}': expected one of "
                         f"{', '.join(allowed)}")
    return key, value


def _check_cuda_options(target: Target, spec: str) -> None:
    if not target.is_cuda:
        return
    arch = target.arch
    if not (arch.startswith("sm_") and arch[3:].rstrip("a").isdigit() and int(arch[3:].rstrip("a")) >= 75):
        raise ValueError(f"-arch={arch} in target '{spec}': expected a GPU architecture "
                         f"sm_75 or newer such as sm_80 or sm_90 (NVRTC 13 compiles sm_75 and up)")
    for key in ("max_threads_per_block", "max_shared_memory_per_block"):
        value = target.option(key)
        if value and not (value.isdigit() and int(value) > 0):
            raise ValueError(f"-{key}={value} in target '{spec}': expected a positive integer")


def _check_native_cpu(target: Target, spec: str) -> None:
    if target.mcpu == "native" and not target.is_host_triple:
        raise ValueError(f"-mcpu=native means this machine's CPU, which cannot run "
                         f"{target.mtriple} code; name a CPU of that machine (or leave -mcpu "
                         f"out for a generic one) in target '{spec}'")


@cache
def process_triple() -> str:
    import llvmlite.binding as llvm

    return llvm.get_process_triple()


def same_machine(triple: str, other: str) -> bool:
    """Whether two triples name the same architecture and operating system
    (``x86_64-linux-gnu`` and ``x86_64-unknown-linux-gnu`` do)."""
    import llvmlite.binding as llvm

    a, b = llvm.get_triple_parts(triple), llvm.get_triple_parts(other)
    return (a.Arch, a.SubArch, a.OS) == (b.Arch, b.SubArch, b.OS)


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
                    "sse4.2": "sse4_2", "bmi": "bmi1", "sse3": "pni", "pclmul": "pclmulqdq",
                    "lzcnt": "abm", "sahf": "lahf_lm", "sha": "sha_ni",
                    "avx512vbmi2": "avx512_vbmi2", "avx512bitalg": "avx512_bitalg",
                    "avx512vpopcntdq": "avx512_vpopcntdq",
                    "avx512vp2intersect": "avx512_vp2intersect"}


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
    if not target.is_host_triple:
        return f"it was compiled for {target.mtriple}, not for this machine ({process_triple()})"
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


__all__ = ["cross_compile_reason", "Target", "has_feature", "host_cpu_features", "host_cpu_name",
           "host_features", "process_triple"]
