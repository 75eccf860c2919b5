import json
import signal
import subprocess
import sys
import textwrap

import pytest

from resnas.data import DataSpec
from resnas.evaluate import Archive, Evaluator, evaluation_key, merge_archives
from resnas.spaces.era import EraConfig
from resnas.train import TrainRecipe

SPEC = DataSpec(name="digits", val_size=0.2, seed=0)
RECIPE = TrainRecipe(epochs=2, batch_size=64, lr=0.05, schedule="cosine")
CONFIGS = [EraConfig("basic", (0, 1, 1, 1), f, 2, 8) for f in (2, 4, 8, 16)] + \
          [EraConfig("bottleneck", (1, 1, 1, 1), 4, 1, 4)]


def test_archive_serves_repeats_and_keys_every_part_of_the_fidelity(tmp_path):
    ev = Evaluator(tmp_path / "a.sqlite", SPEC, RECIPE, seed=0, progress=False)
    first = ev.map([("era", c) for c in CONFIGS[:2]] + [("era", CONFIGS[0])])
    assert ev.trained == 2 and first[0] == first[2]
    assert all(r.ok and 0 <= r.final_val_acc <= 1 and len(r.history) == 2 for r in first)
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
    assert rec.fingerprint["torch"] and rec.fingerprint["dtype"] == "fp32"
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
    cmd = [sys.executable, "-c", KILL_SCRIPT, str(db), configs, "3"]
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

    with pytest.raises(ValueError, match="space='nasbench' is unknown; allowed: \\['era', 'moresnet', 'moresnet_cifar100'"):
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


def _fake_record(job, status="ok", reason=""):
    from resnas.evaluate import Record

    return Record(key=job.key, space=job.space, config=job.config, data={}, recipe={}, seed=job.seed,
                  status=status, reason=reason, final_val_acc=0.5 if status == "ok" else 0.0, best_val_acc=0.5,
                  best_epoch=1, params=1, flops=1, wall_time=0.0, device="cpu", history=(), fingerprint={},
                  created_at=0.0, run_id="fake")


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
