"""Bayesian optimisation, in the thesis's random-forest form and in Optuna's TPE form.

`RandomForestBO` ('bayesian_rf', the thesis's choice): the thesis ran HyperMapper's default optimiser, a
random-forest surrogate with expected improvement (spec/era.md: 10 trees, EI, a random initial design of
dims + 1 = 9, a 5% chance of a random step). HyperMapper itself is not maintained; SMAC3, the maintained
library of the same family, runs it through its ask/tell interface: `HyperparameterOptimizationFacade`'s
random forest (10 trees, log-scaled costs) and log-EI, the acquisition maximised by local search from the best
points plus sorted random points, with a random initial design of `n_initial` and random interleaving
probability 0.05 (SMAC's default is 0.2; 0.05 is HyperMapper's). Two departures from SMAC's facade defaults,
neither of which changes the model: the forest's trees are grown without SMAC's 2^20 leaf cap (it makes
scikit-learn preallocate millions of nodes, about 0.2 s per tree here; with a few hundred points the cap is
never reached) and on one thread; and the model is refitted after every told result (`retrain_after=1`, the
sequential loop of HyperMapper; SMAC's default proposes 8 points per fit).
SMAC has no constant liar: `ask(n)` returns the n best distinct configurations of the acquisition under the
current model (SMAC's own parallel behaviour, each re-maximised), never one already asked. A failed
evaluation is told to SMAC as crashed with the worst finite cost told so far, as the thesis code scored a
failed training as the worst error (101); failures before any finite result wait for the first one.

`BayesianOptimization` ('bayesian', the named alternative): Optuna's TPE sampler (tree-structured Parzen
estimators: density models of good and bad configurations, maximising their ratio, which is expected
improvement under TPE's model). It needs no surrogate fit per step and handles categorical and integer
parameters natively. The first `n_initial` trials are random (9, the thesis's initial design); Optuna counts
finished trials, so with several in flight a few more are random. Failed candidates are told to Optuna as FAIL,
so it never models them as good. `ask(n)` asks Optuna n times; with the constant liar (on, Optuna's default)
the trials still running count as bad, so the batch spreads out.

Both see a space only through its public flat form (`resnas.spaces.base`): one parameter per entry of
`space.choices()`, integer for the space's `ordinal()` parameters and categorical otherwise, and
`space.unflat` to turn a proposal into a configuration.
"""
from __future__ import annotations

import math
import tempfile

from resnas.search.base import AskTell


class BayesianOptimization(AskTell):
    """Optuna's multivariate TPE with the constant liar (see the module docstring)."""

    def __init__(self, space, seed: int = 0, n_initial: int = 9):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.space = space
        self.optuna = optuna
        self.ordinal = frozenset(space.ordinal())
        self.study = optuna.create_study(
            direction="minimize",
            sampler=optuna.samplers.TPESampler(n_startup_trials=n_initial, seed=seed, multivariate=True,
                                               constant_liar=True))
        self.trials: dict = {}  # config -> list of open optuna trials asking for it

    def _propose(self):
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


def _import_smac():
    try:
        import ConfigSpace
        import smac
    except ImportError as exc:
        raise ImportError("strategy 'bayesian_rf' (bayesian: rf_ei) needs SMAC3: install it with "
                          "`.venv/bin/python -m pip install smac` (it is in requirements.in), or choose "
                          "bayesian: tpe") from exc
    return ConfigSpace, smac


class RandomForestBO(AskTell):
    """SMAC3's random forest + expected improvement, configured as HyperMapper's default (module docstring).

    `challengers` (random points scored per proposal) and `local_search_iterations` (local searches on the
    acquisition per proposal) set how hard the acquisition is maximised: SMAC's defaults, 10,000 and 10, are
    HyperMapper's too; tests lower them to stay quick."""

    def __init__(self, space, seed: int = 0, n_initial: int = 9, n_trees: int = 10, random_probability: float = 0.05,
                 challengers: int = 10000, local_search_iterations: int = 10):
        if n_initial < 1:
            raise ValueError(f"n_initial={n_initial} is too small; allowed: >= 1 (the forest needs data)")
        if not 0 <= random_probability <= 1:
            raise ValueError(f"random_probability={random_probability} is out of range; allowed: 0 to 1")
        ConfigSpace, smac = _import_smac()
        from smac.initial_design import RandomInitialDesign
        from smac.main.config_selector import ConfigSelector
        from smac.model.random_forest import RandomForest
        from smac.runhistory.dataclasses import TrialValue
        from smac.runhistory.enumerations import StatusType

        self.space = space
        self.choices = space.choices()
        self.ordinal = frozenset(space.ordinal())
        cs = ConfigSpace.ConfigurationSpace(seed=seed)
        for k, v in self.choices.items():
            cs.add(ConfigSpace.Integer(k, (min(v), max(v))) if k in self.ordinal
                   else ConfigSpace.Categorical(k, list(v)))
        self._workdir = tempfile.TemporaryDirectory(prefix="resnas-smac-")  # SMAC writes its scenario there
        Facade = smac.HyperparameterOptimizationFacade
        scenario = smac.Scenario(cs, deterministic=True, n_trials=2**31 - 1, seed=seed,
                                 output_directory=self._workdir.name)
        model = RandomForest(cs, log_y=True, n_trees=n_trees, bootstrapping=True, ratio_features=1.0,
                             min_samples_split=2, min_samples_leaf=1, max_depth=2**20, max_leaf_nodes=None,
                             seed=seed, n_jobs=1)
        self.smac = Facade(
            scenario, lambda config, seed=0: 0.0,  # never called: we ask and tell
            model=model,
            initial_design=RandomInitialDesign(scenario, n_configs=n_initial),
            acquisition_function=Facade.get_acquisition_function(scenario),
            acquisition_maximizer=Facade.get_acquisition_maximizer(
                scenario, challengers=challengers, local_search_iterations=local_search_iterations),
            random_design=Facade.get_random_design(scenario, probability=random_probability),
            config_selector=ConfigSelector(scenario, retrain_after=1),
            overwrite=True, logging_level=40)
        self._value, self._status = TrialValue, StatusType
        self.trials: dict = {}  # config -> list of open SMAC trials asking for it
        self.worst = -math.inf  # the worst finite cost told so far
        self.failed_early: list = []  # failures told before any finite cost

    def _propose(self):
        info = self.smac.ask()
        flat = {}
        for k, v in dict(info.config).items():  # back to the space's own values (Python, not numpy, scalars)
            allowed = self.choices[k]
            flat[k] = int(v) if k in self.ordinal else allowed[list(allowed).index(v)]
        cfg = self.space.unflat(flat)
        self.trials.setdefault(cfg, []).append(info)
        return cfg

    def tell(self, config, fitness: float) -> None:
        info = self.trials[config].pop(0)
        if not math.isfinite(fitness):
            if math.isfinite(self.worst):
                self._crashed(info)
            else:
                self.failed_early.append(info)
            return
        self.smac.tell(info, self._value(cost=float(fitness)), save=False)
        self.worst = max(self.worst, float(fitness))
        while self.failed_early:
            self._crashed(self.failed_early.pop(0))

    def _crashed(self, info) -> None:
        self.smac.tell(info, self._value(cost=self.worst, status=self._status.CRASHED), save=False)
