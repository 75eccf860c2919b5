"""A process-pool worker ends when its driver is killed (it used to train on, orphaned, beside a restart)."""
import os
import signal
import subprocess
import sys
import time
import textwrap

import pytest

DRIVER = textwrap.dedent("""
    import os, sys, time
    from resnas.evaluate import make_executor

    def worker_pid_then_sleep():
        return os.getpid()

    if __name__ == "__main__":
        ex = make_executor("process", 1)
        print(ex.submit(worker_pid_then_sleep).result(), flush=True)
        ex.submit(time.sleep, 600)  # the worker is busy when its driver dies
        time.sleep(600)
""")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie has exited
        return f.read().split(") ")[-1][0] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_pool_worker_exits_when_its_driver_is_killed(tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    driver = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(driver.stdout.readline())
        assert _alive(worker)
        driver.send_signal(signal.SIGKILL)
        driver.wait(10)
        deadline = time.monotonic() + 15
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(worker), "the worker outlived its killed driver"
    finally:
        driver.kill()


def _env_of_worker(name):
    return os.environ.get(name)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forkserver is the Linux path")
def test_workers_fork_from_a_server_yet_see_the_drivers_environment_of_now(monkeypatch):
    """A forkserver keeps the environment it started with; a worker must still see the driver's of the moment its
    pool was made (the data cache, the run log and FakeData are chosen by environment), as a spawned one would."""
    from resnas.evaluate import make_executor, worker_context

    assert worker_context().get_start_method() == "forkserver"
    monkeypatch.setenv("RESNAS_TEST_MARK", "first")
    with make_executor("process", 1) as ex:  # starts this process's forkserver (if no earlier test did)
        assert ex.submit(_env_of_worker, "RESNAS_TEST_MARK").result() == "first"
    monkeypatch.setenv("RESNAS_TEST_MARK", "second")
    monkeypatch.delenv("RESNAS_DATA", raising=False)
    with make_executor("process", 2) as ex:
        assert set(ex.map(_env_of_worker, ["RESNAS_TEST_MARK"] * 4)) == {"second"}
        assert ex.submit(_env_of_worker, "RESNAS_DATA").result() is None
