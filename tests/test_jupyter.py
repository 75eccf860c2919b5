"""JupyterLab from the virtual environment opens a jupytext source as a notebook (issue #17): a real server on a
free local port answers its settings API with the jupytext default viewer that `make setup` installs, and its
contents API serves notebooks/00_quickstart.py as a notebook."""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from resnas import labs

pytest.importorskip("jupyterlab", reason="jupyterlab is not installed in this environment (make setup installs it)")
pytest.importorskip("jupytext", reason="jupytext is not installed in this environment (make setup installs it)")

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(base: str, token: str, path: str, timeout: float = 10):
    req = urllib.request.Request(base + path, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`jupyter lab` on 127.0.0.1:<free port>, a random token, no browser, root = the repository; the user's own
    settings, workspaces and config are kept out (fresh folders), so only the environment's settings count."""
    tmp = tmp_path_factory.mktemp("jupyter")
    token, port = secrets.token_hex(16), free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp / "config"), "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           "--ServerApp.port_retries=0", "--ServerApp.allow_root=True", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}",
           f"--LabApp.user_settings_dir={tmp / 'user-settings'}", f"--LabApp.workspaces_dir={tmp / 'workspaces'}"]
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with {proc.returncode}: {(tmp / 'server.log').read_text()[-2000:]}")
            try:
                get(base, token, "/api/status", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer in 120 s: {(tmp / 'server.log').read_text()[-2000:]}")
                time.sleep(0.5)
        yield base, token
    finally:
        if proc.poll() is None:  # stop the server we started, and only it (its own session)
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()


def test_settings_api_opens_python_files_with_the_jupytext_notebook_viewer(server):
    base, token = server
    plugin = "@jupyterlab/docmanager-extension:plugin"
    answer = get(base, token, f"/lab/api/settings/{plugin}")
    # JupyterLab applies overrides.json as the schema's default; the user's own settings (none here) come on top
    viewers = answer["settings"].get("defaultViewers", answer["schema"]["properties"]["defaultViewers"]["default"])
    assert viewers.get("python") == "Jupytext Notebook", (
        f"JupyterLab's default viewer for python files is {viewers.get('python')!r}; `make setup` (or "
        f"`{sys.executable} -m resnas.labs settings`) installs {labs.LAB_SETTINGS} into "
        f"{Path(sys.prefix) / 'share/jupyter/lab/settings/overrides.json'}")


def test_contents_api_serves_a_notebook_source_as_a_notebook(server):
    base, token = server
    model = get(base, token, "/api/contents/notebooks/00_quickstart.py?type=notebook&content=1")
    assert model["type"] == "notebook" and model["format"] == "json"
    cells = model["content"]["cells"]
    assert cells[0]["cell_type"] == "markdown" and cells[0]["source"].startswith("# Quickstart")
    assert any("parameters" in c["metadata"].get("tags", []) for c in cells)
    assert not any(c["source"].startswith("# ---") for c in cells)  # the jupytext header is metadata, not a cell


def test_contents_api_serves_a_course_lab_as_a_notebook(server):
    base, token = server
    model = get(base, token, "/api/contents/notebooks/labs/01_search_spaces.py?type=notebook&content=1")
    assert model["type"] == "notebook"
    params = [c for c in model["content"]["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert len(params) == 1 and "solved = False" in params[0]["source"]
