"""RNAS Table 2 on the NAS-Bench-201 table (resnas.experiments.ranking, #14): the fraction study's shape and
range, disjoint training and test cells, a planted predictor that must reach tau 1 (and a reversed one -1),
the intervals, and which table decides rnas.pairwise_beats_mse."""
import math

import numpy as np
import pandas as pd
import pytest

from resnas import predictor as PR
from resnas.experiments import ranking as R
from resnas.params import ParamError, validate
from resnas.spaces.cells import NB201

N = 300  # synthetic cells: feature [0, 0, 0] holds the cell's index, so a fitter can see which cells it got


def _cells(seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((N, 1, 2, 2), np.float32)
    x[:, 0, 0, 0] = np.arange(N)
    y = rng.uniform(10, 95, N)
    return x, y


class Planted:
    """Scores a cell by its true accuracy (or minus it), and records every cell it was trained on and scored."""

    def __init__(self, y, sign=1.0):
        self.y, self.sign, self.trained, self.scored = y, sign, [], []

    def __call__(self, x_train, y_train, config):
        idx = x_train[:, 0, 0, 0].astype(int)
        assert np.allclose(self.y[idx], y_train)  # the fitter gets each cell's own label
        self.trained.append((config.seed, config.loss, set(idx)))
        return self

    def score_features(self, x):
        idx = x[:, 0, 0, 0].astype(int)
        self.scored.append(set(idx))
        return self.sign * self.y[idx]


def test_one_tau_per_loss_fraction_and_seed_within_range_and_a_planted_predictor_gets_one():
    x, y = _cells()
    planted = Planted(y)
    fractions, losses, seeds = [0.25, 0.5, 1.0], ["mse", "pairwise", "pairwise_continuity"], [0, 1, 2, 3]
    study = R.nb201_fraction_study(x, y, fractions, losses, PR.PredictorConfig(), seeds, 80, 100, fitter=planted)
    assert len(study) == len(fractions) * len(losses) * len(seeds)
    assert not study.duplicated(["seed", "loss", "fraction"]).any()
    assert study.tau.between(-1, 1).all()
    assert np.allclose(study.tau, 1.0)
    assert set(study.n_train) == {20, 40, 80} and set(study.n_test) == {100}
    assert (study.space == R.NB201_SPACE).all() and (study.encoding == R.NB201_ENCODING).all()
    reverse = R.nb201_fraction_study(x, y, [0.5], ["mse"], PR.PredictorConfig(), [0], 80, 100,
                                     fitter=Planted(y, -1.0))
    assert np.allclose(reverse.tau, -1.0)


def test_training_cells_never_overlap_the_test_cells_and_losses_share_them():
    x, y = _cells(1)
    planted = Planted(y)
    R.nb201_fraction_study(x, y, [0.1, 0.5, 1.0], ["mse", "pairwise"], PR.PredictorConfig(), [0, 1, 2], 120,
                           150, fitter=planted)
    trained = {}
    for (seed, loss, cells), scored in zip(planted.trained, planted.scored):
        assert not cells & scored, "a training cell was also a test cell"
        assert len(scored) == 150
        trained.setdefault((seed, len(cells)), []).append(cells)
    for runs in trained.values():  # both losses of a seed and fraction train on the same cells (paired)
        assert all(r == runs[0] for r in runs)
    for seed in (0, 1, 2):  # nested subsets of one labelled sample, which differs between seeds
        sizes = sorted(((s, c) for (s, _, c) in planted.trained if s == seed), key=lambda t: len(t[1]))
        assert sizes[0][1] <= sizes[-1][1]
    full = [c for s, _, c in planted.trained if len(c) == 120]
    assert full[0] != full[-1]


def test_splits_refuse_more_cells_than_the_table_holds():
    with pytest.raises(ValueError, match="n_labelled=200 \\+ n_test=200 exceeds the 300 cells"):
        list(R.nb201_splits(300, 200, 200, [1.0], [0]))
    assert R.NB201_CELLS == NB201.size()
    with pytest.raises(ParamError, match="nb201_labelled"):
        validate(R.Params, {"nb201_labelled": 15_000, "nb201_test": 1000})


def test_a_real_ranknet_on_real_cell_encodings_ranks_far_above_chance():
    """The RankNet takes the 5 x 4 x 4 cell encoding; a label that is a simple function of the cell (how many
    3x3 convolutions it has, plus noise) is learnt from 60 cells well beyond chance on 300 held-out ones."""
    cells = list(NB201.enumerate())[::37][:400]
    x = PR.cell_encoding(cells)
    rng = np.random.default_rng(0)
    y = np.array([c.ops.count("nor_conv_3x3") for c in cells], float) + rng.normal(0, 0.3, len(cells))
    study = R.nb201_fraction_study(x, y, [1.0], ["pairwise"], PR.PredictorConfig(epochs=60, hidden=8), [0], 60, 300)
    assert study.tau.iloc[0] > 0.4


def _study(gap, seeds=8, spread=0.05):
    rng = np.random.default_rng(3)
    rows = []
    for s in range(seeds):
        base = rng.uniform(0.2, 0.5)
        for frac, n in ((0.25, 50), (1.0, 200)):
            for loss, shift in (("mse", 0.0), ("pairwise", gap), ("pairwise_continuity", gap)):
                rows.append({"space": R.NB201_SPACE, "split": "random", "seed": s, "encoding": R.NB201_ENCODING,
                             "loss": loss, "fraction": frac, "n_train": n, "n_test": 1000,
                             "tau": base + shift + rng.normal(0, spread), "train_tau": 0.9, "fit_seconds": 0.5})
    return pd.DataFrame(rows)


def test_intervals_cover_the_mean_and_gaps_are_paired_by_seed():
    study = _study(0.2)
    iv = R.tau_intervals(study)
    assert len(iv) == 6 and (iv.repeats == 8).all()
    assert ((iv.low <= iv.tau) & (iv.tau <= iv.high)).all()
    gaps = R.loss_gaps(study)
    assert len(gaps) == 2 and (gaps.pairwise_better == 8).all()
    assert ((gaps.low > 0.1) & (gaps.high < 0.35) & (gaps.low <= gaps.gap) & (gaps.gap <= gaps.high)).all()
    one = R.tau_intervals(study[study.seed == 0])
    assert one.low.isna().all() and (one.repeats == 1).all()


def test_both_spaces_keeps_the_era_random_tensor_rows_and_the_nb201_rows():
    nb = _study(0.2, seeds=2)
    era = nb.assign(space="x", encoding="tensor")
    era = pd.concat([era, era.assign(encoding="type"), era.assign(split="neighbourhood"),
                     era.assign(loss=PR.FOREST)], ignore_index=True)
    both = R.both_spaces(era, nb)
    assert set(both.space) == {R.ERA_SPACE, R.NB201_SPACE}
    assert len(both[both.space == R.ERA_SPACE]) == len(nb) and PR.FOREST not in set(both.loss)


def _era_parts(gap):
    from types import SimpleNamespace

    era = _study(gap, seeds=3).assign(space="x", encoding="tensor")
    picks = pd.DataFrame({"method": [R.OURS, R.PEER] * 3, "seed": [0, 0, 1, 1, 2, 2],
                          "accuracy": [90, 89, 91, 90, 92, 91.5], "fit_seconds": 1.0, "search_seconds": 1.0})
    labels = SimpleNamespace(data=SimpleNamespace(name="fashion_mnist"), source=R.LONG, proxy_is_label=False,
                             n=12, label_epochs=10, frame=pd.DataFrame({"label_seconds": [5.0]}))
    return era, picks, labels


def test_the_nb201_rows_decide_the_table2_claim_and_the_era_row_keeps_its_own_id():
    era, picks, labels = _era_parts(-0.2)  # the ERA study says MSE is better
    p = R.Params(fractions=[0.25, 1.0])
    rows = {r["id"]: r for r in R.claim_rows(era, picks, labels, p, _study(0.2, seeds=10))}
    assert set(rows) == {"rnas.pairwise_beats_mse", "rnas.pairwise_beats_mse_era", "rnas.guided_beats_peer"}
    nb = rows["rnas.pairwise_beats_mse"]
    assert nb["verdict"] == "holds" and nb["n"] == 10 and nb["n_unit"] == "repeats"
    assert nb["protocol"] == R.NB201_PROTOCOL and "NAS-Bench-201" in nb["mapping"] and "50 of 15,625" in nb["mapping"]
    assert rows["rnas.pairwise_beats_mse_era"]["estimate"] < 0 and rows["rnas.pairwise_beats_mse_era"]["n"] == 3
    wrong = {r["id"]: r for r in R.claim_rows(era, picks, labels, p, _study(-0.2, seeds=10))}
    assert wrong["rnas.pairwise_beats_mse"]["verdict"] == "contradicted"
    alone = {r["id"]: r for r in R.claim_rows(era, picks, labels, p)}  # no table: the ERA study decides
    assert set(alone) == {"rnas.pairwise_beats_mse", "rnas.guided_beats_peer"}
    assert math.isclose(alone["rnas.pairwise_beats_mse"]["estimate"], rows["rnas.pairwise_beats_mse_era"]["estimate"])
