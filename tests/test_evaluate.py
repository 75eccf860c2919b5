import dataclasses
import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from resnas.data import DataSpec
from resnas.evaluate import (CODE_VERSION, Archive, ArchiveError, ArchiveLockedWarning, Evaluator, Record,
                             evaluation_key, merge_archives)
from resnas.spaces.era import EraConfig
from resnas.train import TrainRecipe

SPEC = DataSpec(name="digits", val_size=0.2, seed=0)
RECIPE = TrainRecipe(epochs=2, batch_size=64, lr=0.05, schedule="cosine")
CONFIGS = [EraConfig("basic", (0, 1, 1, 1), f, 2, 8) for f in (2, 4, 8, 16)] + \
          [EraConfig("bottleneck", (1, 1, 1, 1), 4, 1, 4)]


def test_archive_serves_repeats_and_keys_every_part_of_the_fidelity(tmp_path):
    ev = Evaluator(tmp_path / "a.sqlite", SPEC, RECIPE, seed=0, progress=False)
    first = ev.map([("era", c) for c in CONFIGS[:2]] + [("era", CONFIGS[0])])
    assert ev.trained == 2 and first[2] is first[0]  # a repeat within one batch is trained once
    assert all(r.ok and 0 <= r.final_val_acc <= 1 and len(r.history) == 2 for r in first)
    # the record read back from disk by another connection equals the one handed out, field by field
    fresh = Archive(tmp_path / "a.sqlite")
    stored = fresh.get(first[0].key)
    fresh.close()
    assert stored.cached and not first[0].cached and stored is not first[0]
    assert {f.name: getattr(stored, f.name) for f in dataclasses.fields(Record) if f.name != "cached"} == \
           {f.name: getattr(first[0], f.name) for f in dataclasses.fields(Record) if f.name != "cached"}
    assert isinstance(stored.history, tuple) and stored == first[0] and stored.code_version == CODE_VERSION
    assert dataclasses.replace(stored, final_val_acc=stored.final_val_acc / 2) != first[0]
    again = ev.evaluate("era", CONFIGS[1])
    assert again.cached and again == first[1] and ev.trained == 2
    # a JSON string of the same configuration is the same candidate
    assert ev.evaluate("era", CONFIGS[1].to_json()).key == first[1].key
    # every part of the fidelity is in the key
    k = evaluation_key("era", CONFIGS[0], SPEC, RECIPE, 0)
    assert k != evaluation_key("era", CONFIGS[0], SPEC, RECIPE, 1)
    assert k != evaluation_key("era", CONFIGS[0], SPEC, RECIPE.replace(epochs=3), 0)
    assert k != evaluation_key("era", CONFIGS[0], DataSpec(name="digits", val_size=0.2, seed=1), RECIPE, 0)
    assert k != evaluation_key("era", CONFIGS[1], SPEC, RECIPE, 0)
    rec = first[0]
    # the precision 'auto' resolved to on this machine (fp32 here; bf16 on a CPU with bf16 hardware)
    assert rec.fingerprint["torch"] and rec.fingerprint["dtype"] == (
        "bf16-autocast" if rec.precision == "bf16" else "fp32")
    assert rec.fitness == pytest.approx(100 * (1 - rec.final_val_acc))
    assert len(Archive(tmp_path / "a.sqlite")) == 2


def test_same_seed_same_record_numbers(tmp_path):
    a = Evaluator(tmp_path / "a.sqlite", SPEC, RECIPE, seed=3, progress=False).evaluate("era", CONFIGS[2])
    b = Evaluator(tmp_path / "b.sqlite", SPEC, RECIPE, seed=3, progress=False).evaluate("era", CONFIGS[2])
    assert a.history[-1]["train_loss"] == b.history[-1]["train_loss"] and a.final_val_acc == b.final_val_acc


def test_failed_candidate_is_recorded_with_reason(tmp_path):
    ev = Evaluator(tmp_path / "a.sqlite", SPEC, RECIPE.replace(max_params=500), progress=False)
    rec = ev.evaluate("era", CONFIGS[3])
    assert rec.status == "failed" and "max_params=500" in rec.reason and rec.fitness == float("inf")
    assert ev.evaluate("era", CONFIGS[3]).cached  # failures are remembered too: never retried in a study


def test_process_pool_gives_the_same_records_as_in_process(tmp_path):
    items = [("era", c) for c in CONFIGS[:3]]
    serial = Evaluator(tmp_path / "s.sqlite", SPEC, RECIPE, progress=False).map(items)
    pool = Evaluator(tmp_path / "p.sqlite", SPEC, RECIPE, backend="process", workers=2, progress=False)
    parallel = pool.map(items)
    pool.close()
    assert [r.key for r in serial] == [r.key for r in parallel]
    assert [r.final_val_acc for r in serial] == [r.final_val_acc for r in parallel]


KILL_SCRIPT = textwrap.dedent("""
    import json, sys
    from resnas.data import DataSpec
    from resnas.evaluate import Evaluator
    from resnas.spaces.era import EraConfig
    from resnas.train import TrainRecipe
    configs = [EraConfig.from_json(s) for s in json.loads(sys.argv[2])]
    ev = Evaluator(sys.argv[1], DataSpec(name="digits", val_size=0.2, seed=0),
                   TrainRecipe(epochs=int(sys.argv[3]), batch_size=64, lr=0.05, schedule="cosine"), progress=False)
    for c in configs:
        r = ev.evaluate("era", c)
        print("finished", r.key, r.run_id, r.cached, flush=True)
    print("stats", ev.trained, ev.served, flush=True)
""")


def test_killed_run_resumes_without_retraining_what_finished(tmp_path):
    db = tmp_path / "kill.sqlite"
    configs = json.dumps([c.to_json() for c in CONFIGS])
    cmd = [sys.executable, "-c", KILL_SCRIPT, str(db), configs, "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    finished = []
    for line in proc.stdout:  # kill hard as soon as two evaluations have been reported finished
        if line.startswith("finished"):
            finished.append(line.split()[1:3])
            if len(finished) == 2:
                proc.send_signal(signal.SIGKILL)
                break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    archive = Archive(db)
    stored = {r.key: r.run_id for r in archive.records()}
    archive.close()
    assert 2 <= len(stored) < len(CONFIGS)  # the run died midway ...
    for key, run_id in finished:  # ... and everything it reported finished was on disk
        assert stored[key] == run_id
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()
    trained, served = map(int, out[-1].split()[1:])
    assert served == len(stored) and trained == len(CONFIGS) - len(stored)
    for line in out[:-1]:
        _, key, run_id, cached = line.split()
        if key in stored:  # served from the archive: the record of the killed run, not a retrained one
            assert cached == "True" and run_id == stored[key]


def test_unknown_space_is_named():
    from resnas.spaces import get_space

    with pytest.raises(ValueError, match="space='nasbench' is unknown; allowed: \\[.*'era'.*'moresnet'"):
        get_space("nasbench")


def test_archives_from_several_machines_merge(tmp_path):
    a = Evaluator(tmp_path / "a.sqlite", SPEC, RECIPE, progress=False).map([("era", c) for c in CONFIGS[:2]])
    Evaluator(tmp_path / "b.sqlite", SPEC, RECIPE, progress=False).map([("era", c) for c in CONFIGS[1:3]])
    assert merge_archives(tmp_path / "a.sqlite", [tmp_path / "b.sqlite"]) == 1  # CONFIGS[1] is in both
    merged = Archive(tmp_path / "a.sqlite")
    assert len(merged) == 3 and merged.get(a[0].key) == a[0]
    merged.close()


def test_activation_count_and_memory_estimate_are_exact_for_a_small_net():
    from torch import nn

    from resnas.train import activation_elements, estimate_memory

    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 10))
    assert activation_elements(net, (1, 8, 8)) == 256 + 256 + 256 + 10
    params = sum(p.numel() for p in net.parameters())
    assert estimate_memory(net, (1, 8, 8), 32, amp=True) == 12 * params + 2 * 778 * 32 * 2
    assert estimate_memory(net, (1, 8, 8), 32, amp=False) == 12 * params + 2 * 778 * 32 * 4


def _fake_record(job, status="ok", reason="", run_id="fake", code_version=CODE_VERSION):
    return Record(key=job.key, space=job.space, config=job.config, data={}, recipe={}, seed=job.seed,
                  status=status, reason=reason, final_val_acc=0.5 if status == "ok" else 0.0, best_val_acc=0.5,
                  best_epoch=1, params=1, flops=1, wall_time=0.0, device="cpu", history=(), fingerprint={},
                  created_at=0.0, run_id=run_id, code_version=code_version)


def test_packing_keeps_estimates_within_the_budget_and_retries_oom_alone(tmp_path, monkeypatch):
    """On a GPU the evaluator admits candidates while their memory estimates fit; one that still runs out of
    memory beside others is retried alone. Simulated with threads and fake jobs, so it runs on any machine."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from resnas import evaluate

    sizes = dict(zip([c.to_json() for c in CONFIGS], [6, 4, 5, 5, 12]))
    lock, inflight, peaks, calls = threading.Lock(), {}, [], []

    def fake_run(job):
        with lock:
            inflight[job.key] = sizes[job.config]
            peaks.append((sum(inflight.values()), len(inflight)))
            calls.append(job.config)
        time.sleep(0.05)
        with lock:
            del inflight[job.key]
        # CONFIGS[2] always shares the device (it is admitted beside CONFIGS[3], 5 + 5 = the budget): it runs
        # out of memory in a worker, and succeeds when retried alone in this process.
        if job.config == CONFIGS[2].to_json() and threading.current_thread() is not threading.main_thread():
            return _fake_record(job, "failed", "CUDA out of memory")
        return _fake_record(job)

    monkeypatch.setattr(evaluate, "run_job", fake_run)
    monkeypatch.setattr(evaluate, "memory_estimate", lambda job: sizes[job.config])
    ev = Evaluator(tmp_path / "a.sqlite", SPEC, RECIPE, backend=ThreadPoolExecutor(4), memory_budget=10,
                   progress=False)
    recs = ev.map([("era", c) for c in CONFIGS])
    assert all(r.ok for r in recs) and [r.config for r in recs] == [c.to_json() for c in CONFIGS]
    assert all(total <= 10 or n == 1 for total, n in peaks)  # the 12-unit candidate ran by itself
    assert max(total for total, n in peaks if n > 1) == 10 and ev.retried_alone == 1
    assert calls.count(CONFIGS[2].to_json()) == 2  # tried beside another, then alone


# ------------------------------------------------------------------------------ insert-once and code versions
def _jobs(tmp_path, n=2):
    """Jobs (keys, configs) for CONFIGS[:n] at the test fidelity, without training anything."""
    ev = Evaluator(tmp_path / "keys.sqlite", SPEC, RECIPE, progress=False)
    jobs = [ev.job("era", c) for c in CONFIGS[:n]]
    ev.close()
    return jobs


def test_archive_put_is_insert_once_and_returns_what_it_holds(tmp_path):
    job = _jobs(tmp_path, 1)[0]
    a, b = Archive(tmp_path / "a.sqlite"), Archive(tmp_path / "a.sqlite")  # two runs, two connections
    first, second = _fake_record(job, run_id="first"), _fake_record(job, run_id="second")
    assert a.put(first) is first
    back = b.put(second)  # the second writer gets the first writer's record back ...
    assert back.run_id == "first" and back.cached and back == first
    assert a.get(job.key).run_id == "first" and len(b) == 1  # ... and the archive keeps it
    # a success of an old engine is immutable too
    old_ok = _fake_record(_jobs(tmp_path, 2)[1], run_id="old", code_version="")
    assert a.put(old_ok) is old_ok and a.put(_fake_record(_jobs(tmp_path, 2)[1], run_id="new")).run_id == "old"
    a.close(), b.close()


def test_only_a_failure_of_an_older_engine_is_replaced(tmp_path):
    j0, j1 = _jobs(tmp_path, 2)
    archive = Archive(tmp_path / "a.sqlite")
    archive.put(_fake_record(j0, "failed", "TypeError: a bug of an old version", run_id="old", code_version=""))
    archive.put(_fake_record(j1, "failed", "non-finite training loss at epoch 1", run_id="now"))
    assert archive.get(j0.key).stale and not archive.get(j1.key).stale
    assert archive.put(_fake_record(j0, run_id="rerun")).run_id == "rerun"  # old failure: replaced
    assert archive.put(_fake_record(j1, run_id="rerun")).run_id == "now"  # this engine's failure stands
    assert archive.get(j0.key).ok and archive.get(j0.key).code_version == CODE_VERSION
    archive.close()


def test_an_old_record_without_code_version_still_loads(tmp_path):
    job = _jobs(tmp_path, 1)[0]
    text = json.loads(_fake_record(job, "failed", "TypeError: x").to_json())
    del text["code_version"]
    old = Record.from_json(json.dumps(text))
    assert old.code_version == "" and old.engine == 0 and old.stale


def test_evaluator_retrains_an_old_engines_failure_and_serves_this_engines(tmp_path):
    archive = Archive(tmp_path / "a.sqlite")
    j0, j1 = _jobs(tmp_path, 2)
    archive.put(_fake_record(j0, "failed", "AttributeError: cached by an old version", code_version="0.1.0"))
    archive.put(_fake_record(j1, "failed", "non-finite training loss at epoch 1", run_id="now"))
    archive.close()
    ev = Evaluator(tmp_path / "a.sqlite", SPEC, RECIPE, progress=False)
    r0, r1 = ev.map([("era", c) for c in CONFIGS[:2]])
    assert r0.ok and r0.run_id != "fake" and ev.trained == 1  # retrained for real, and replaced
    assert r1.run_id == "now" and r1.cached and ev.served == 1
    assert ev.archive.get(j0.key) == r0
    ev.close()


def test_two_runs_sharing_an_archive_agree_on_the_first_record(tmp_path, monkeypatch):
    """Run B finishes a candidate while run A is still training it: A hands out B's record, not its own."""
    from resnas import evaluate

    other = Archive(tmp_path / "a.sqlite")

    def run_while_b_finishes_first(job):
        other.put(_fake_record(job, run_id="run-b"))
        return _fake_record(job, run_id="run-a")

    monkeypatch.setattr(evaluate, "run_job", run_while_b_finishes_first)
    ev = Evaluator(tmp_path / "a.sqlite", SPEC, RECIPE, progress=False)
    recs = ev.map([("era", c) for c in CONFIGS[:2]])
    assert [r.run_id for r in recs] == ["run-b", "run-b"] and all(r.cached for r in recs)
    assert {r.run_id for r in other.records()} == {"run-b"}
    ev.close(), other.close()


# ---------------------------------------------------------------------------------------------- failures
def test_a_code_bug_is_raised_not_cached_and_a_forbidden_config_is(tmp_path, monkeypatch):
    from resnas import evaluate

    def buggy(*args, **kwargs):
        raise TypeError("a bug in the engine")

    ev = Evaluator(tmp_path / "a.sqlite", SPEC, RECIPE, progress=False)
    monkeypatch.setattr(evaluate, "train", buggy)
    with pytest.raises(TypeError, match="a bug in the engine"):
        ev.evaluate("era", CONFIGS[0])
    assert len(ev.archive) == 0  # nothing cached: the fixed code trains it
    monkeypatch.undo()
    assert ev.evaluate("era", CONFIGS[0]).ok and ev.trained == 1

    space = evaluate.get_space("era")

    def forbid(self, cfg, *args):
        raise ValueError(f"{cfg} is not allowed in this space")

    monkeypatch.setattr(type(space), "build", forbid)
    rec = ev.evaluate("era", CONFIGS[1])  # the candidate's own failure: recorded for good
    assert rec.status == "failed" and "not allowed in this space" in rec.reason
    assert ev.archive.get(rec.key).run_id == rec.run_id and ev.evaluate("era", CONFIGS[1]).cached
    ev.close()


def test_a_worker_exception_propagates_after_the_running_jobs_are_stored(tmp_path, monkeypatch):
    """Pool path: one job raises (a bug); the jobs already running finish and are stored, the rest are not
    started, and the exception reaches the caller."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from resnas import evaluate

    started, release = [], threading.Event()
    bad = CONFIGS[1].to_json()

    def fake_run(job):
        started.append(job.config)
        if job.config == bad:
            raise KeyError("a bug in a worker")
        release.wait(5)  # CONFIGS[0] is still running when CONFIGS[1] raises
        return _fake_record(job)

    monkeypatch.setattr(evaluate, "run_job", fake_run)
    pool = ThreadPoolExecutor(2)
    ev = Evaluator(tmp_path / "a.sqlite", SPEC, RECIPE, backend=pool, progress=False)
    threading.Timer(0.3, release.set).start()
    with pytest.raises(KeyError, match="a bug in a worker"):
        ev.map([("era", c) for c in CONFIGS])
    stored = {r.config for r in ev.archive.records()}
    assert stored == {CONFIGS[0].to_json()}  # the running job was kept, the failing one not cached
    assert len(started) < len(CONFIGS)  # the queued jobs were cancelled, not run
    ev.close()


def test_a_memory_failure_in_process_is_retried_once_after_freeing_memory(tmp_path, monkeypatch):
    from resnas import evaluate

    calls = []

    def oom_then_fits(job):
        calls.append(job.key)
        return _fake_record(job, "failed", "out of memory (CUDA): ...") if len(calls) == 1 else _fake_record(job)

    monkeypatch.setattr(evaluate, "run_job", oom_then_fits)
    ev = Evaluator(tmp_path / "a.sqlite", SPEC, RECIPE, progress=False)
    assert ev.evaluate("era", CONFIGS[0]).ok and len(calls) == 2 and ev.retried_alone == 1
    ev.close()


# ---------------------------------------------------------------------------------------------- locks
def _hold_write_lock(path):
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("BEGIN EXCLUSIVE")
    return db


def test_a_locked_archive_is_retried_with_backoff_and_warns_once(tmp_path):
    job = _jobs(tmp_path, 1)[0]
    archive = Archive(tmp_path / "a.sqlite", lock_timeout=30)
    holder = _hold_write_lock(tmp_path / "a.sqlite")
    threading.Timer(1.5, lambda: holder.execute("ROLLBACK")).start()  # longer than SQLite's own busy wait
    start = time.monotonic()
    with pytest.warns(ArchiveLockedWarning, match="is locked by another connection") as caught:
        stored = archive.put(_fake_record(job))
    assert 1.4 < time.monotonic() - start < 15 and stored.run_id == "fake"
    assert len([w for w in caught if issubclass(w.category, ArchiveLockedWarning)]) == 1
    assert Archive(tmp_path / "a.sqlite").get(job.key) == stored
    assert not archive.pending_path.exists()
    holder.close(), archive.close()


def test_a_record_that_cannot_be_written_goes_to_the_pending_file_and_is_imported(tmp_path):
    j0, j1 = _jobs(tmp_path, 2)
    archive = Archive(tmp_path / "a.sqlite", lock_timeout=0.5)
    holder = _hold_write_lock(tmp_path / "a.sqlite")
    with pytest.warns(ArchiveLockedWarning, match="pending.jsonl"):
        archive.put(_fake_record(j0, run_id="kept"))
        archive.put(_fake_record(j1, run_id="kept"))
    lines = archive.pending_path.read_text().splitlines()
    assert [json.loads(x)["key"] for x in lines] == [j0.key, j1.key]  # on disk, not lost
    assert archive.get(j0.key).run_id == "kept" and len(archive) == 2  # and served by this object meanwhile
    with pytest.warns(ArchiveLockedWarning, match="stay in"):  # still locked: opening leaves the file alone
        Archive(tmp_path / "a.sqlite", lock_timeout=0.2).close()
    assert archive.pending_path.exists()
    holder.execute("ROLLBACK"), holder.close()
    reopened = Archive(tmp_path / "a.sqlite")  # the next opening imports and removes the pending file
    assert {r.key: r.run_id for r in reopened.records()} == {j0.key: "kept", j1.key: "kept"}
    assert not reopened.pending_path.exists() and len(reopened) == 2
    reopened.close(), archive.close()


def test_a_corrupted_archive_names_its_path(tmp_path):
    garbage = tmp_path / "results" / "garbage.sqlite"
    garbage.parent.mkdir()
    garbage.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(ArchiveError, match=f"archive {garbage} is not a usable SQLite database"):
        Archive(garbage)
    # a real archive whose pages were overwritten: the error comes from a query, and names the file too
    broken = tmp_path / "broken.sqlite"
    a = Archive(broken)
    for job in _jobs(tmp_path, 2):
        a.put(_fake_record(job))
    a.close()
    raw = bytearray(broken.read_bytes())
    raw[4096:] = b"\xff" * (len(raw) - 4096)
    broken.write_bytes(bytes(raw))
    with pytest.raises(ArchiveError, match=str(broken)):
        Archive(broken).records()


# ---------------------------------------------------------------------------------------------- kill in a batch
BATCH_SCRIPT = textwrap.dedent("""
    import json, sys
    from resnas import evaluate
    from resnas.data import DataSpec
    from resnas.spaces.era import EraConfig
    from resnas.train import TrainRecipe

    def reporting_run_job(job, run=evaluate.run_job):  # says when a training has finished (not yet stored)
        rec = run(job)
        print("finished", rec.key, flush=True)
        return rec

    evaluate.run_job = reporting_run_job
    configs = [EraConfig.from_json(s) for s in json.loads(sys.argv[2])]
    ev = evaluate.Evaluator(sys.argv[1], DataSpec(name="digits", val_size=0.2, seed=0),
                            TrainRecipe(epochs=1, batch_size=64, lr=0.05, schedule="cosine"), progress=False)
    ev.map([("era", c) for c in configs])  # one call: the whole batch
    print("stats", ev.trained, ev.served, flush=True)
""")


def test_a_kill_inside_one_map_call_keeps_what_finished(tmp_path):
    """SIGKILL inside one `Evaluator.map` call, as soon as its third training has finished: the two before
    it were stored when they finished, and the rerun trains only what is missing. Deferring the commits to
    the end of map() fails this."""
    db = tmp_path / "batch.sqlite"
    configs = CONFIGS
    cmd = [sys.executable, "-c", BATCH_SCRIPT, str(db), json.dumps([c.to_json() for c in configs])]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    finished = []
    for line in proc.stdout:
        if line.startswith("finished"):
            finished.append(line.split()[1])
            if len(finished) == 3:
                proc.send_signal(signal.SIGKILL)
                break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL  # killed inside the batch, not finished
    archive = Archive(db)
    stored = {r.key: r.run_id for r in archive.records()}
    archive.close()
    assert set(finished[:2]) <= set(stored) and len(stored) <= 3  # each stored before the next training ran
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()
    trained, served = map(int, out[-1].split()[1:])
    assert served == len(stored) and trained == len(configs) - len(stored)
    assert {line.split()[1] for line in out[:-1]}.isdisjoint(stored)  # nothing stored was trained again
    archive = Archive(db)
    after = {r.key: r.run_id for r in archive.records()}
    archive.close()
    assert len(after) == len(configs) and all(after[k] == v for k, v in stored.items())
