"""What this CPU can do, read from the kernel's flags (``/proc/cpuinfo``, the same list ``lscpu`` prints).

The runtime factory decides bf16 / int8 from these flags; nothing is assumed from the CPU's name.
An AVX2-only CPU (many AMD EPYC machines) reports none of the bf16 flags, so bf16 is never chosen there.
"""
import os
import platform
from functools import lru_cache

# instruction-set extensions worth reporting next to a benchmark
ISA_FLAGS = ('avx2', 'fma', 'avx512f', 'avx512bw', 'avx512_vnni', 'avx_vnni', 'avx512_bf16', 'amx_bf16',
             'amx_int8', 'amx_tile', 'avx512_fp16')
BF16_FLAGS = frozenset({'avx512_bf16', 'amx_bf16'})
INT8_FLAGS = frozenset({'avx512_vnni', 'avx_vnni', 'amx_int8'})


def _cpuinfo_field(name):
    try:
        with open('/proc/cpuinfo', encoding='utf-8', errors='replace') as f:
            for line in f:
                key, _, value = line.partition(':')
                if key.strip() == name:
                    return value.strip()
    except OSError:
        pass
    return None


@lru_cache(maxsize=1)
def cpu_flags():
    """The CPU's feature flags as a frozenset of lower-case names (empty when they cannot be read)."""
    override = os.environ.get('MASKHUB_CPU_FLAGS')     # for checks: pretend to be another CPU
    text = override if override is not None else (_cpuinfo_field('flags') or '')
    return frozenset(text.lower().replace(',', ' ').split())


def cpu_model():
    return _cpuinfo_field('model name') or platform.processor() or 'unknown CPU'


def has_bf16(flags=None):
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX-BF16)."""
    return bool(BF16_FLAGS & (cpu_flags() if flags is None else frozenset(flags)))


def has_int8(flags=None):
    """True when the CPU has int8 dot-product instructions (VNNI or AMX-INT8)."""
    return bool(INT8_FLAGS & (cpu_flags() if flags is None else frozenset(flags)))


def isa_summary(flags=None):
    """The reportable ISA flags present, in a fixed order."""
    flags = cpu_flags() if flags is None else frozenset(flags)
    return [f for f in ISA_FLAGS if f in flags]
