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
