"""The Dask backend: a local cluster of worker processes gives the same archive as training in-process."""
import os

import pytest
import torch

from resnas.evaluate import RUN_ID, Archive, Evaluator, make_executor
from test_evaluate import CONFIGS, RECIPE, SPEC

if os.environ.get("RESNAS_REQUIRE_CLUSTER"):  # `make test` installs the extra: a missing one is a failure
    import distributed  # noqa: F401
else:
    pytest.importorskip("distributed")


def test_dask_local_cluster_gives_the_same_archive_as_in_process(tmp_path):
    items = [("era", c) for c in CONFIGS[:3]]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each Dask worker runs: float sums in the same order, bit-identical records
    try:
        serial = Evaluator(tmp_path / "s.sqlite", SPEC, RECIPE, progress=False).map(items)
    finally:
        torch.set_num_threads(threads)
    ev = Evaluator(tmp_path / "d.sqlite", SPEC, RECIPE, backend="dask", workers=2, progress=False)
    remote = ev.map(items)
    ev.close()
    assert [r.key for r in remote] == [r.key for r in serial]
    def numbers(r):  # every number of the learning curve but its wall-clock seconds
        return [{k: v for k, v in h.items() if k != "seconds"} for h in r.history]

    assert [numbers(r) for r in remote] == [numbers(r) for r in serial]
    assert all(r.run_id != RUN_ID for r in remote)  # trained in the workers, not here
    stored = Archive(tmp_path / "d.sqlite")
    assert {r.key for r in stored.records()} == {r.key for r in serial}  # the driver wrote every record
    stored.close()


def test_unknown_backend_is_named():
    with pytest.raises(ValueError, match="backend='slurm' is unknown; allowed: 'inprocess', 'process', 'dask', 'ray'"):
        make_executor("slurm")
