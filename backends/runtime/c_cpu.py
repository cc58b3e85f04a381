"""The CPU check of a model's C entry: ``tvmscript_check_cpu()`` names the features the kernels'
target needs and this CPU lacks, so the library refuses a CPU instead of dying of SIGILL.

Which features a target needs: for the host CPU (``-mcpu=native`` or none) every feature LLVM
compiled for (``Target.features``); for a named CPU, what the system compiler says that CPU has
(``cc -march=<cpu> -dM -E``: GCC and LLVM share x86 CPU names); plus ``-mattr=+x``, less
``-mattr=-x``. The library tests them with ``cpuid`` (and ``xgetbv``: the operating system must
also save the AVX, AVX-512 or AMX registers), the way LLVM's own host detection does, in C
compiled for a generic x86-64, so the check itself runs anywhere. Only the instruction-set
features code generation may emit are checked (the table below): system features (``sgx``,
``shstk``) and instructions reached only through explicit intrinsics the backend never emits
(``avx512vp2intersect``, which GCC 12 and LLVM disagree on for Sapphire Rapids) would only
refuse CPUs that run the kernels fine.
"""

from __future__ import annotations

import re
import subprocess

from ..target import Target, host_cpu_name

_EAX, _EBX, _ECX, _EDX = range(4)
_AVX, _AVX512, _AMX = 0x6, 0xE6, 0x60000  # the XCR0 state each family needs saved

# LLVM feature -> (cpuid leaf, subleaf, register, bit, XCR0 mask); bits as in GCC's cpuid.h
FEATURES: dict[str, tuple[int, int, int, int, int]] = {
    "sse": (1, 0, _EDX, 25, 0), "sse2": (1, 0, _EDX, 26, 0), "sse3": (1, 0, _ECX, 0, 0),
    "pclmul": (1, 0, _ECX, 1, 0), "ssse3": (1, 0, _ECX, 9, 0), "fma": (1, 0, _ECX, 12, _AVX),
    "cx16": (1, 0, _ECX, 13, 0), "sse4.1": (1, 0, _ECX, 19, 0), "sse4.2": (1, 0, _ECX, 20, 0),
    "movbe": (1, 0, _ECX, 22, 0), "popcnt": (1, 0, _ECX, 23, 0), "aes": (1, 0, _ECX, 25, 0),
    "avx": (1, 0, _ECX, 28, _AVX), "f16c": (1, 0, _ECX, 29, _AVX),
    "sahf": (0x80000001, 0, _ECX, 0, 0), "lzcnt": (0x80000001, 0, _ECX, 5, 0),
    "sse4a": (0x80000001, 0, _ECX, 6, 0), "xop": (0x80000001, 0, _ECX, 11, _AVX),
    "fma4": (0x80000001, 0, _ECX, 16, _AVX),
    "bmi": (7, 0, _EBX, 3, 0), "avx2": (7, 0, _EBX, 5, _AVX), "bmi2": (7, 0, _EBX, 8, 0),
    "avx512f": (7, 0, _EBX, 16, _AVX512), "avx512dq": (7, 0, _EBX, 17, _AVX512),
    "adx": (7, 0, _EBX, 19, 0), "avx512ifma": (7, 0, _EBX, 21, _AVX512),
    "avx512cd": (7, 0, _EBX, 28, _AVX512), "sha": (7, 0, _EBX, 29, 0),
    "avx512bw": (7, 0, _EBX, 30, _AVX512), "avx512vl": (7, 0, _EBX, 31, _AVX512),
    "avx512vbmi": (7, 0, _ECX, 1, _AVX512), "avx512vbmi2": (7, 0, _ECX, 6, _AVX512),
    "gfni": (7, 0, _ECX, 8, 0), "vaes": (7, 0, _ECX, 9, _AVX),
    "vpclmulqdq": (7, 0, _ECX, 10, _AVX), "avx512vnni": (7, 0, _ECX, 11, _AVX512),
    "avx512bitalg": (7, 0, _ECX, 12, _AVX512), "avx512vpopcntdq": (7, 0, _ECX, 14, _AVX512),
    "amx-bf16": (7, 0, _EDX, 22, _AMX),
    "avx512fp16": (7, 0, _EDX, 23, _AVX512), "amx-tile": (7, 0, _EDX, 24, _AMX),
    "amx-int8": (7, 0, _EDX, 25, _AMX),
    "avxvnni": (7, 1, _EAX, 4, _AVX), "avx512bf16": (7, 1, _EAX, 5, _AVX512),
}
# GCC's predefined macro for each feature, spelt without punctuation (__SSE4_1__ -> sse41)
_MACRO_ALIASES = {"lahfsahf": "sahf"}


def required_features(target: Target, cc: str = "cc") -> tuple[list[str], str]:
    """The checkable features code for ``target`` may use, and a note on what could not be
    determined ("" when nothing)."""
    if target.mcpu in ("", "native") and target.is_host_triple:
        return _apply(set(), target.features.split(",")), ""  # the host's, then -mattr
    wanted, note = set(), ""
    if target.mcpu not in ("", "generic", "x86-64"):
        found = _cpu_features(target.mcpu, cc)
        if found is None:
            note = (f"-mcpu={target.mcpu} is unknown to {cc}, so only the -mattr features are "
                    "checked")
        wanted |= found or set()
    return _apply(wanted, target.mattr), note


def _apply(wanted: set[str], flags: list[str] | tuple[str, ...]) -> list[str]:
    """``wanted`` after the ``+x``/``-x`` flags in order (the last word on a feature wins, as
    in LLVM), restricted to the checkable features."""
    wanted = set(wanted)
    for flag in filter(None, flags):
        name = flag.lstrip("+-")
        if flag.startswith("-"):
            wanted.discard(name)
        else:
            wanted.add(name)
    return sorted(f for f in wanted if f in FEATURES)


def _cpu_features(cpu: str, cc: str) -> set[str] | None:
    """The features GCC (or Clang) enables for ``-march=cpu``; None when it does not know it."""
    done = subprocess.run([cc, f"-march={cpu}", "-dM", "-E", "-x", "c", "/dev/null"],
                          capture_output=True, text=True, check=False)
    if done.returncode:
        return None
    by_macro = {re.sub(r"[^a-z0-9]", "", f): f for f in FEATURES}
    found = set()
    for macro in re.findall(r"#define __([A-Z0-9_]+)__ 1", done.stdout):
        key = macro.lower().replace("_", "")
        key = _MACRO_ALIASES.get(key, key)
        if key in by_macro:
            found.add(by_macro[key])
    return found


def cpu_check_source(target: Target, cc: str = "cc") -> str:
    """C source defining ``tvms_cpu_problem()`` for ``target`` (see the module docstring)."""
    features, note = required_features(target, cc)
    native = target.mcpu in ("", "native") and target.is_host_triple
    built = f"'{target}' on {host_cpu_name()}" if native else f"'{target}'"
    rows = "\n".join(f'  {{"{name}", {leaf:#x}u, {sub}u, {reg}, {bit}u, {mask:#x}ull}},'
                     for name in features
                     for leaf, sub, reg, bit, mask in [FEATURES[name]])
    return _TEMPLATE.format(note=f"/* {note} */\n" if note else "", built=_c_string(built),
                            rows=rows or '  {"", 0u, 0u, 0, 0u, 0ull},', count=len(features))


def _c_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


_TEMPLATE = """/* generated by backends/runtime/c_cpu.py: the CPU features the kernels need */
{note}#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "tvmscript_entry.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static const struct {{
  const char* name;
  unsigned leaf, subleaf;
  int reg;
  unsigned bit;
  unsigned long long xcr0;
}} needed[] = {{
{rows}
}};
static const int num_needed = {count};

static unsigned long long saved_state(void) {{
  unsigned a, b, c, d, lo, hi;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0; /* no OSXSAVE */
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((unsigned long long)hi << 32) | lo;
}}

static int has(unsigned leaf, unsigned subleaf, int reg, unsigned bit) {{
  unsigned r[4];
  if (__get_cpuid_max(leaf & 0x80000000u, NULL) < leaf) return 0;
  __cpuid_count(leaf, subleaf, r[0], r[1], r[2], r[3]);
  return (r[reg] >> bit) & 1u;
}}

const char* tvms_cpu_problem(void) {{
  static char message[1024];
  char missing[512] = "";
  unsigned long long state = saved_state();
  for (int i = 0; i < num_needed; ++i) {{
    if (has(needed[i].leaf, needed[i].subleaf, needed[i].reg, needed[i].bit) &&
        (state & needed[i].xcr0) == needed[i].xcr0)
      continue;
    size_t used = strlen(missing);
    snprintf(missing + used, sizeof missing - used, "%s%s", used ? ", " : "", needed[i].name);
  }}
  if (!missing[0]) return NULL;
  snprintf(message, sizeof message,
           "this CPU lacks %s, which the model's kernels use (they were compiled for target "
           "{built}); build the model for this machine (-mcpu=native) or run it on a CPU "
           "that has them", missing);
  return message;
}}
#else
const char* tvms_cpu_problem(void) {{ return NULL; }} /* no check for this architecture */
#endif
"""

__all__ = ["FEATURES", "cpu_check_source", "required_features"]
