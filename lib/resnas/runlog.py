"""What actually ran: an append-only JSON-lines log of the data sets, backends, devices and spaces a run used.

Off unless `$RESNAS_RUN_LOG` names a file. The paper smoke run (`resnas.smoke`) turns it on, so its test can
assert that the paper profile's backend, worker count, device, preset and shapes really ran, rather than
trusting the parameters it was given: an override that quietly turned the run into the ci profile would show
here. Every process of a run (notebook kernels, process-pool workers) appends to the same file; one `os.write`
of one short line under O_APPEND is atomic on a local file system, so lines never interleave.
"""
from __future__ import annotations

import json
import os

ENV = "RESNAS_RUN_LOG"


def log_event(event: str, **fields) -> None:
    """Append {"event": event, "pid": ..., **fields} to $RESNAS_RUN_LOG (nothing when it is unset)."""
    path = os.environ.get(ENV)
    if not path:
        return
    line = json.dumps({"event": event, "pid": os.getpid(), **fields}, default=str, sort_keys=True) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def read_events(path: str | os.PathLike) -> list[dict]:
    """Every event of a log, in the order written (a missing file is an empty log)."""
    try:
        text = open(path, encoding="utf-8").read()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]
