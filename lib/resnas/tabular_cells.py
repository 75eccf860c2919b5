"""An offline CIFAR-10 ground truth for the 15,625 NAS-Bench-201 cells, and a zero-training objective over it.

**The table.** PyPI's `analog-nasbench==0.1.3` wheel ships `analognasbench/data.anb`: for every NAS-Bench-201
cell, AnalogNAS-Bench's `baseline_accuracy`, the CIFAR-10 test accuracy (%) after 200 epochs of digital
training (SGD 0.1 Nesterov, cosine, weight decay 5e-4, batch 256; one run per cell). These are
AnalogNAS-Bench's own single training runs, **not NAS-Bench-201's** (best cell here 94.07%, NAS-Bench-201's best
94.37%): say so wherever they are shown. The wheel states no licence: `make setup` installs it (with --no-deps)
as a data file, the package is never imported, and the file is never redistributed.

**Reading it safely.** The file is a pickle. It is read only after its sha256 matches, by an unpickler that
admits exactly its two record classes (`analognasbench.data.Architecture` and `DriftMeasurement`, mapped to
inert stand-ins here) and refuses any other global, so a tampered file cannot run code. Keys are tuples of six
operation codes, one per edge in the order (0->1, 0->2, 0->3, 1->2, 1->3, 2->3) of `resnas.spaces.cells`;
codes 0 skip, 1 none, 2 conv 3x3, 3 conv 1x1, 4 avg-pool (spec/genas.md; checked by a test: the 341 cells at
exactly 10% are the cells whose output is cut off from the input).

**The objective.** `TabularEvaluator.evaluate(space, cell)` answers like `resnas.evaluate.Evaluator` (a record
whose `fitness` is the test error in %, minimised), with zero training, so every strategy can be raced over
many seeds in seconds.
"""
from __future__ import annotations

import hashlib
import importlib.util
import io
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from resnas.spaces.cells import NB201, NB201_EDGES, NB201_OPS, Nb201Cell, Nb201Space

WHEEL = "analog-nasbench==0.1.3"
WHEEL_SHA256 = "f7d4e56e416d249d25555b867a6d7c72886fa9d85a49bd1870708acbf5ee6fe2"  # the .whl, for reference
DATA_SHA256 = "85f3435b877aa2d36268d55ce07f6ff6d73643d17a840f1941745da5eb80db32"  # analognasbench/data.anb
CODE_OPS = {0: "skip_connect", 1: "none", 2: "nor_conv_3x3", 3: "nor_conv_1x1", 4: "avg_pool_3x3"}
OP_CODES = {op: code for code, op in CODE_OPS.items()}
EDGE_COLUMNS = tuple(f"edge_{i}_{j}" for i, j in NB201_EDGES)
SOURCE = "AnalogNAS-Bench (analog-nasbench 0.1.3): one 200-epoch CIFAR-10 training per cell, not NAS-Bench-201's runs"


class TableUnavailable(FileNotFoundError):
    """The table's file is not installed."""


class TableRejected(ValueError):
    """The table's file is not the expected one (checksum) or names a class it must not."""


# ---------------------------------------------------------------------------------------------- reading
class _ArchitectureRecord:
    """Stand-in for analognasbench.data.Architecture: unpickling only sets attributes on it."""


class _DriftRecord:
    """Stand-in for analognasbench.data.DriftMeasurement. Drift (analog hardware) is not used here, and there are
    eight per cell: one shared inert instance takes them all and keeps nothing, which makes reading 3x faster."""

    __slots__ = ()

    def __new__(cls):
        return _DRIFT

    def __setstate__(self, state):
        pass


_DRIFT = object.__new__(_DriftRecord)


_ADMITTED = {("analognasbench.data", "Architecture"): _ArchitectureRecord,
             ("analognasbench.data", "DriftMeasurement"): _DriftRecord}


class _RecordUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ADMITTED:
            allowed = ", ".join(f"{m}.{n}" for m, n in _ADMITTED)
            raise TableRejected(f"the table names class {module}.{name}; allowed: {allowed}")
        return _ADMITTED[(module, name)]


def table_path() -> Path:
    """Where `make setup` installed the file (found without importing the package)."""
    spec = importlib.util.find_spec("analognasbench")
    if spec is None or not spec.submodule_search_locations:
        raise TableUnavailable(f"the CIFAR-10 cell table needs the {WHEEL} wheel's data file: `make setup` installs "
                               f"it (pip install --no-deps {WHEEL})")
    return Path(list(spec.submodule_search_locations)[0]) / "data.anb"


def _verified_bytes(path: str | Path | None, sha256: str) -> tuple[bytes, str]:
    path = Path(path) if path is not None else table_path()
    if not path.exists():
        raise TableUnavailable(f"{path} does not exist; `make setup` installs it (pip install --no-deps {WHEEL})")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise TableRejected(f"{path} has sha256 {digest}; allowed: {sha256} (the {WHEEL} file)")
    return data, digest


def read_records(path: str | Path | None = None, sha256: str = DATA_SHA256) -> dict:
    """The file's dict {code tuple: record}, after checking its sha256 and admitting only the record classes."""
    return _parse(_verified_bytes(path, sha256)[0])


def _parse(data: bytes) -> dict:
    records = _RecordUnpickler(io.BytesIO(data)).load()
    if not isinstance(records, dict):
        raise TableRejected(f"the table holds a {type(records).__name__}; allowed: a dict of records")
    return records


_FRAMES: dict[str, pd.DataFrame] = {}  # sha256 of the bytes read -> parsed frame (reused only for equal bytes)


def load_table(path: str | Path | None = None, sha256: str = DATA_SHA256) -> pd.DataFrame:
    """One row per cell, in `NB201.index` order: `cell` (the index), `code` (the file's key, e.g. '2,2,0,2,3,2'),
    the six `edge_i_j` operation names and `test_accuracy` (%).
    The file is read and its checksum verified on every call; parsing is reused only for identical bytes."""
    data, digest = _verified_bytes(path, sha256)
    if digest not in _FRAMES:
        _FRAMES[digest] = _frame(_parse(data))
    return _FRAMES[digest].copy()


def _frame(records: dict) -> pd.DataFrame:
    """Vectorised: a Python object per cell would cost a second."""
    codes = np.array(list(records), dtype=np.int64)
    accuracy = np.fromiter((r.baseline_accuracy for r in records.values()), dtype=float, count=len(records))
    if codes.shape != (NB201.size(), len(NB201_EDGES)) or set(np.unique(codes)) - set(CODE_OPS):
        raise TableRejected(f"the table's keys have shape {codes.shape}; allowed: {NB201.size():,} tuples of "
                            f"{len(NB201_EDGES)} codes in {sorted(CODE_OPS)}")
    op_index = np.array([NB201_OPS.index(CODE_OPS[c]) for c in sorted(CODE_OPS)])[codes]  # code -> NB201_OPS index
    cell = op_index @ (len(NB201_OPS) ** np.arange(len(NB201_EDGES) - 1, -1, -1))  # NB201.index, vectorised
    if len(np.unique(cell)) != NB201.size():
        raise TableRejected(f"the table has {len(np.unique(cell)):,} distinct cells; allowed: all {NB201.size():,}")
    names = np.array(NB201_OPS, dtype=object)[op_index]
    frame = pd.DataFrame({"cell": cell, "code": [",".join(map(str, k)) for k in codes.tolist()],
                          **{col: names[:, e] for e, col in enumerate(EDGE_COLUMNS)}, "test_accuracy": accuracy})
    return frame.sort_values("cell", ignore_index=True)


def cell_of_code(code: tuple[int, ...] | str) -> Nb201Cell:
    """The cell of a table key, e.g. (2, 2, 0, 2, 3, 2) or '2,2,0,2,3,2'."""
    codes = tuple(int(c) for c in code.split(",")) if isinstance(code, str) else tuple(code)
    bad = [c for c in codes if c not in CODE_OPS]
    if len(codes) != len(NB201_EDGES) or bad:
        raise ValueError(f"code={code!r} is not a table key; allowed: {len(NB201_EDGES)} codes in {sorted(CODE_OPS)}")
    return Nb201Cell(tuple(CODE_OPS[c] for c in codes))


def code_of_cell(cell: Nb201Cell) -> tuple[int, ...]:
    return tuple(OP_CODES[op] for op in cell.ops)


# ---------------------------------------------------------------------------------------------- objective
@dataclass(frozen=True)
class TableRecord:
    """A table answer in the shape of `resnas.evaluate.Record` where strategies and notebooks look."""

    key: str  # the table code, e.g. '2,2,0,2,3,2'
    space: str
    config: str
    test_accuracy: float  # %
    status: str = "ok"
    wall_time: float = 0.0  # nothing is trained
    cached: bool = field(default=True, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def fitness(self) -> float:
        """Test error in % (minimised), the evaluator's convention."""
        return 100.0 - self.test_accuracy


class TabularEvaluator:
    """Answers `evaluate(space, cell)` from the CIFAR-10 table: no training, the same cell always the same.

    `space` is the registry name of an NB201 space ('nb201', 'nb201_small': the table knows the cell, not the
    width of the network) or an `Nb201Space`; `cell` an `Nb201Cell` or its JSON."""

    def __init__(self, table: pd.DataFrame | None = None):
        table = load_table() if table is None else table
        self.accuracy = table.sort_values("cell").test_accuracy.to_numpy(dtype=float)
        if len(self.accuracy) != NB201.size():
            raise ValueError(f"table has {len(self.accuracy)} rows; allowed: one per cell ({NB201.size():,})")
        self.queries = 0

    def _space(self, space) -> Nb201Space:
        from resnas.spaces import get_space

        obj = get_space(space) if isinstance(space, str) else space
        if not isinstance(obj, Nb201Space):
            raise ValueError(f"space={getattr(obj, 'name', obj)!r} has no table; allowed: an NB201 cell space "
                             "('nb201', 'nb201_small')")
        return obj

    def evaluate(self, space, config) -> TableRecord:
        sp = self._space(space)
        cell = sp.from_json(config) if isinstance(config, str) else config
        self.queries += 1
        acc = float(self.accuracy[sp.index(cell)])
        return TableRecord(",".join(map(str, code_of_cell(cell))), sp.name, sp.to_json(cell), acc)

    __call__ = evaluate

    def map(self, items) -> list[TableRecord]:
        return [self.evaluate(s, c) for s, c in items]

    def objective(self, space="nb201"):
        """`cell -> (fitness, info)` for `resnas.search.run_search`."""
        sp = self._space(space)

        def objective(cell):
            rec = self.evaluate(sp, cell)
            return rec.fitness, {"test_accuracy": rec.test_accuracy, "key": rec.key}

        return objective

    # the table's landmarks, for regret --------------------------------------------------------------
    @property
    def best_accuracy(self) -> float:
        return float(self.accuracy.max())

    def top_threshold(self, fraction: float) -> float:
        """The accuracy a cell needs to be among the best `fraction` of all cells (ties included)."""
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction={fraction} is out of range; allowed: 0 < fraction <= 1")
        k = max(1, int(np.floor(fraction * len(self.accuracy))))
        return float(np.sort(self.accuracy)[::-1][k - 1])

