"""How many threads torch gets on the CPU, how idle OpenMP threads wait, and what the CPU offers for bf16.

Why: torch starts one intra-op OpenMP thread per core, and by default an idle OpenMP thread spins (libgomp: about
3 ms per wait; Intel OpenMP: 200 ms) before it sleeps. Alone, that is harmless. With a second torch process on
the same cores (a notebook beside `make reproduce`, a generation beside `make test`) each process's spinning
threads steal the cores the other's working threads need at every barrier, and small networks, which meet a
barrier every few microseconds, slow down by an order of magnitude: two ci `era_search` runs at once did not
finish in 9 minutes, against 24 s alone. Threads that sleep while they wait (OMP_WAIT_POLICY=PASSIVE, which
libgomp and Intel OpenMP both honour) remove that; `make bench` shows one run alone against two at once.

The wait policy is read once, when the OpenMP runtime loads with torch, so it is set as an environment
default: by `import resnas` when torch is not imported yet (`apply_env_defaults`), and by the Makefile's
`export` for every target (papermill kernels and pool workers inherit it). A value the user set, for the
policy or for any runtime's own spin setting, is never overridden.
"""
from __future__ import annotations

import functools
import numbers
import os
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path

# What `import resnas` sets when nothing in the environment says how OpenMP threads should wait.
ENV_DEFAULTS = {"OMP_WAIT_POLICY": "PASSIVE"}
# Any of these set by the user is a stated preference about waiting: leave the wait policy to them.
# (GOMP_SPINCOUNT is libgomp's spin count, which wins over the policy there; KMP_BLOCKTIME is Intel OpenMP's.)
WAIT_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")


def env_defaults(environ: Mapping[str, str], torch_imported: bool) -> dict[str, str]:
    """The variables `apply_env_defaults` would set: none once torch is imported (its OpenMP runtime has read
    the environment already, so a value set now would describe this process wrongly), none when the user has
    set any wait setting, else ENV_DEFAULTS."""
    if torch_imported or any(name in environ for name in WAIT_SETTINGS):
        return {}
    return dict(ENV_DEFAULTS)


def apply_env_defaults(environ: MutableMapping[str, str] | None = None,
                       modules: Mapping[str, object] | None = None) -> dict[str, str]:
    """Set the OpenMP wait default in `environ` (os.environ) unless torch is in `modules` (sys.modules) or the
    user has chosen; child processes inherit it. Returns what was set."""
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    chosen = env_defaults(environ, "torch" in modules)
    environ.update(chosen)
    return chosen


def worker_threads(workers: int, cores: int) -> int:
    """Torch threads for each of `workers` worker processes sharing `cores` cores: an equal share, at least one.
    More workers than cores then run one thread each and the OS time-slices them, which costs little because
    a single-threaded process has no OpenMP barrier to wait at."""
    for name, value in (("workers", workers), ("cores", cores)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name}={value!r} must be an integer >= 1")
    return max(1, int(cores) // int(workers))


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# ---------------------------------------------------------------------------------------------- bf16 on the CPU
# Flags of /proc/cpuinfo that give bf16 matrix arithmetic in hardware, best first. Without one of them oneDNN
# emulates bf16 and autocast is slower than fp32.
BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def bf16_flag(cpu_flags: str) -> str | None:
    """The best bf16 instruction set named in a /proc/cpuinfo `flags` line, or None."""
    present = set(cpu_flags.split())
    return next((flag for flag in BF16_FLAGS if flag in present), None)


@functools.lru_cache(maxsize=1)
def cpu_bf16() -> str | None:
    """This CPU's bf16 instruction set ('amx_bf16', 'avx512_bf16') when torch can use it, else None: detected
    from the CPU's flags and checked with oneDNN, never assumed. Read once per process (every training's
    precision 'auto' asks)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: no flags to read, so no claim
        return None
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    flag = bf16_flag(line.partition(":")[2])
    if flag is None:
        return None
    import torch

    supported = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return flag if supported is None or supported() else None


# The vector extensions that change which float kernels run (and so the last bits of a result, which a
# training then amplifies like another seed): two CPUs that agree on these and on vendor/family/model run the
# same kernels. "AMD EPYC" alone named two machines here whose trainings of one network differed by 19 points
# at one epoch (a Zen 3 without AVX-512 and an earlier machine).
KERNEL_FLAGS = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
                "amx_bf16", "amx_tile", "avx_vnni")


def cpu_id_from(cpuinfo: str) -> str:
    """'<vendor> family <f> model <m> [<flags>]' from /proc/cpuinfo's first processor (see KERNEL_FLAGS)."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            break  # the first processor only
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    kernel = "+".join(f for f in KERNEL_FLAGS if f in flags) or "-"
    return (f"{fields.get('vendor_id', '?')} family {fields.get('cpu family', '?')} model "
            f"{fields.get('model', '?')} [{kernel}]")


@functools.lru_cache(maxsize=1)
def cpu_id() -> str:
    """This CPU's identity for comparing results bit for bit (`cpu_id_from`); 'unknown' off Linux."""
    try:
        return cpu_id_from(Path("/proc/cpuinfo").read_text())
    except OSError:
        return "unknown"
