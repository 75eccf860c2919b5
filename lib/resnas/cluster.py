"""Cluster backends for the evaluator: anything that is a `concurrent.futures.Executor` runs `run_job`.

    from resnas.cluster import dask_executor
    ev = Evaluator(archive, data, recipe, backend=dask_executor(workers=4))           # a local cluster
    ev = Evaluator(archive, data, recipe, backend=dask_executor("tcp://head:8786"))  # an existing one

Dask distributed is the default choice: `Client.get_executor()` already is a concurrent.futures executor, so
the evaluator needs no adapter, and a worker per GPU (`dask worker --nworkers 1 --resources GPU=1` on each GPU,
CUDA_VISIBLE_DEVICES set per worker) is the usual deployment. Ray is offered through a thin adapter
(`ObjectRef.future()`), with fractional GPUs per task (`num_gpus=0.25` packs four candidates on a GPU; Ray sets
CUDA_VISIBLE_DEVICES for each task). Both are optional extras: `pip install -e .[cluster]` (Dask) or
`.[ray]`. Results meet in one archive because every record is written by the process that asked for it
(the driver), keyed by what was trained; see README "Running on a cluster".
"""
from __future__ import annotations

from concurrent.futures import Executor, Future


def _missing(package: str, extra: str) -> ImportError:
    return ImportError(f"backend needs {package}: install the optional extra with `pip install -e .[{extra}]`")


def dask_executor(address: str | None = None, workers: int = 2, threads_per_worker: int = 1) -> Executor:
    """An executor on a Dask cluster: the scheduler at `address`, or a new local cluster of `workers`
    processes (each running one candidate at a time with `threads_per_worker` torch threads)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise _missing("dask distributed", "cluster") from exc
    if address:
        client = Client(address)
    else:
        # host: the scheduler speaks unauthenticated tcp://, so it listens on this machine only
        cluster = LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker, processes=True,
                               dashboard_address=None, host="127.0.0.1")
        client = Client(cluster)
    return _DaskExecutor(client)


class _DaskExecutor(Executor):
    """Client.get_executor(), plus closing the client (and its local cluster) on shutdown."""

    def __init__(self, client):
        self.client, self._inner = client, client.get_executor(pure=False)

    def submit(self, fn, /, *args, **kwargs) -> Future:
        return self._inner.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, **kwargs) -> None:
        self._inner.shutdown(wait=wait)
        cluster = getattr(self.client, "cluster", None)
        self.client.close()
        if cluster is not None:
            cluster.close()


class RayExecutor(Executor):
    """Ray tasks as concurrent.futures: each submit is one remote task with `num_cpus` and `num_gpus`
    (fractional GPUs pack several candidates on one device)."""

    def __init__(self, address: str | None = None, num_cpus: float = 1, num_gpus: float = 0,
                 local_cpus: int | None = None):
        try:
            import ray
        except ImportError as exc:
            raise _missing("ray", "ray") from exc
        self.ray = ray
        if not ray.is_initialized():
            ray.init(address=address, num_cpus=None if address else local_cpus, include_dashboard=False,
                     log_to_driver=False)
        self.options = {"num_cpus": num_cpus, "num_gpus": num_gpus}

    def submit(self, fn, /, *args, **kwargs) -> Future:
        task = self.ray.remote(**self.options)(fn)
        return task.remote(*args, **kwargs).future()

    def shutdown(self, wait: bool = True, **kwargs) -> None:
        self.ray.shutdown()
