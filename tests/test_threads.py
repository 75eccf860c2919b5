"""Thread and OpenMP-wait defaults (resnas.threads): set before torch loads, never over a user's choice."""
import os
import subprocess
import sys

import pytest

from resnas.threads import WAIT_SETTINGS, apply_env_defaults, bf16_flag, env_defaults, worker_threads

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("environ, torch_imported, expected", [
    ({}, False, {"OMP_WAIT_POLICY": "PASSIVE"}),
    ({"PATH": "/bin"}, False, {"OMP_WAIT_POLICY": "PASSIVE"}),
    ({}, True, {}),  # the OpenMP runtime has read the environment already
    ({"OMP_WAIT_POLICY": "ACTIVE"}, False, {}),
    ({"OMP_WAIT_POLICY": ""}, False, {}),  # set, even if empty, is the user's
    ({"GOMP_SPINCOUNT": "300000"}, False, {}),  # libgomp's own spin setting is a choice too
    ({"KMP_BLOCKTIME": "200"}, False, {}),  # and Intel OpenMP's
])
def test_env_defaults_table(environ, torch_imported, expected):
    assert env_defaults(environ, torch_imported) == expected


def test_apply_env_defaults_sets_only_what_is_missing():
    env = {"OMP_NUM_THREADS": "3"}
    assert apply_env_defaults(env, modules={}) == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert env == {"OMP_NUM_THREADS": "3", "OMP_WAIT_POLICY": "PASSIVE"}
    user = {"OMP_WAIT_POLICY": "active"}
    assert apply_env_defaults(user, modules={}) == {}
    assert user == {"OMP_WAIT_POLICY": "active"}
    late = {}
    assert apply_env_defaults(late, modules={"torch": object()}) == {}
    assert late == {}


def _child(code: str, **set_vars) -> str:
    """Run `code` in a fresh interpreter with no wait setting in its environment except `set_vars`."""
    env = {k: v for k, v in os.environ.items() if k not in WAIT_SETTINGS}
    env.update(set_vars)
    env["PYTHONPATH"] = os.path.join(ROOT, "lib") + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                          timeout=120).stdout.strip()


# The child asks a shell for the variable, so it is in the process environment that children inherit, not only
# in Python's os.environ.
ASK_SHELL = "import subprocess; print(subprocess.run(['sh', '-c', 'echo \"<$OMP_WAIT_POLICY>\"'], " \
            "capture_output=True, text=True).stdout.strip())"


def test_import_resnas_before_torch_sets_the_default_for_children():
    assert _child("import resnas; " + ASK_SHELL) == "<PASSIVE>"


def test_import_resnas_never_overrides_the_user():
    assert _child("import resnas; " + ASK_SHELL, OMP_WAIT_POLICY="ACTIVE") == "<ACTIVE>"
    assert _child("import resnas; " + ASK_SHELL, GOMP_SPINCOUNT="1000") == "<>"


def test_import_resnas_after_torch_changes_nothing():
    # torch is faked as imported (a real import costs seconds): resnas must then leave the environment alone.
    assert _child("import sys, types; sys.modules['torch'] = types.ModuleType('torch'); import resnas; "
                  + ASK_SHELL) == "<>"


@pytest.mark.parametrize("workers, cores, threads", [
    (1, 1, 1), (1, 2, 2), (2, 2, 1), (3, 2, 1), (8, 2, 1),
    (1, 16, 16), (2, 16, 8), (3, 16, 5), (4, 16, 4), (16, 16, 1), (17, 16, 1),
])
def test_worker_threads_table(workers, cores, threads):
    assert worker_threads(workers, cores) == threads


def test_worker_threads_takes_numpy_integers():  # counts read from a data frame or computed with numpy
    import numpy as np

    assert worker_threads(np.int64(2), np.int64(16)) == 8


@pytest.mark.parametrize("workers, cores, name", [
    (0, 2, "workers"), (-1, 2, "workers"), (2.0, 2, "workers"), (True, 2, "workers"),
    (2, 0, "cores"), (2, None, "cores"),
])
def test_worker_threads_refuses_bad_counts(workers, cores, name):
    with pytest.raises(ValueError, match=rf"{name}=.* must be an integer >= 1"):
        worker_threads(workers, cores)


@pytest.mark.parametrize("flags, expected", [
    ("fpu sse avx2 avx512f avx512_bf16 avx512_vnni", "avx512_bf16"),
    ("avx512f avx512_bf16 amx_tile amx_bf16 amx_int8", "amx_bf16"),  # AMX first: the faster unit
    ("fpu sse avx2 avx512f", None),
    ("avx512_bf16x amx_bf16_extra", None),  # whole flags only, never substrings
    ("", None),
])
def test_bf16_flag_table(flags, expected):
    assert bf16_flag(flags) == expected
