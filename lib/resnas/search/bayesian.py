"""Bayesian optimisation through Optuna's ask/tell interface.

Model and acquisition: Optuna's TPE sampler (tree-structured Parzen estimators: density models of good and bad
configurations, maximising their ratio, which is expected improvement under TPE's model). It handles
categorical and integer parameters natively, needs no GPU or compiled surrogate, and is maintained; the
thesis's HyperMapper used a random-forest surrogate with expected improvement, which TPE stands in for.
The first `n_initial` trials are random (9 = ERA's dims + 1, the thesis's initial design). Failed candidates
are told to Optuna as FAIL, so it never models them as good.

It sees a space only through its public flat form (`resnas.spaces.base`): one Optuna parameter per entry of
`space.choices()`, integer for the space's `ordinal()` parameters and categorical otherwise, and
`space.unflat` to turn the proposal into a configuration.
"""
from __future__ import annotations

import math


class BayesianOptimization:
    def __init__(self, space, seed: int = 0, n_initial: int = 9):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.space = space
        self.optuna = optuna
        self.ordinal = frozenset(space.ordinal())
        self.study = optuna.create_study(
            direction="minimize",
            sampler=optuna.samplers.TPESampler(n_startup_trials=n_initial, seed=seed, multivariate=True))
        self.trials: dict = {}  # config -> list of open optuna trials asking for it

    def ask(self):
        trial = self.study.ask()
        flat = {k: trial.suggest_int(k, min(v), max(v)) if k in self.ordinal
                else trial.suggest_categorical(k, list(v)) for k, v in self.space.choices().items()}
        cfg = self.space.unflat(flat)
        self.trials.setdefault(cfg, []).append(trial)
        return cfg

    def tell(self, config, fitness: float) -> None:
        trial = self.trials[config].pop(0)
        if math.isfinite(fitness):
            self.study.tell(trial, fitness)
        else:
            self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
