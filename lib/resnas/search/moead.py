"""MOEA/D (Zhang & Li 2007) with Chebyshev decomposition, as an ask/tell object (mo-resnet.txt §2.1).

    moead = MOEAD(pop_size=20, initial=space.sample, variation=space.variation, seed=0)
    while searching:
        batch = moead.ask()                    # first call: the initial population, then N offspring
        moead.tell(evaluate(batch))            # array (len(batch), m), minimised; an inf row = failure
    moead.pareto_set(), moead.pareto_front()   # the external Pareto set (EP)

It knows nothing about networks: individuals are whatever `initial(rng)` returns and `variation(a, b, rng)`
combines, so the same object runs on real vectors (the ZDT validation) and on MO-ResNet genomes.

Subproblem i has weight vector lambda_i and neighbourhood B(i), the T subproblems whose weights are nearest
(itself included). Its scalar objective is the Chebyshev function

    g(x | lambda, z*) = max_k lambda_k |f_k(x) - z*_k|

with z* the ideal point (the smallest value of each objective seen so far, starting at +inf). Each generation,
every subproblem i mates two distinct members of B(i); the child replaces every neighbour j in B(i) whose g
under lambda_j it strictly lowers.

Update order (`order=`):
- 'generational' (the paper's reordering, default): all N offspring are made from the same population and
  evaluated as one batch; then z* is updated with the whole batch and the neighbourhoods are updated. This is
  what lets a generation train in parallel. Compared with the original MOEA/D it (1) makes a child's parents
  come from the previous generation only, so a good child cannot mate until the next generation (slower
  propagation along the front); (2) judges all children against one z*, the batch's, rather than a z* that
  moves between children; and (3) because z* is fixed during the update, the sequential replacement leaves
  in each slot j the best (by g_j) of its incumbent and of all children whose neighbourhood contains j,
  whatever the order the children are processed in.
- 'loop' (original MOEA/D, as pymoo's, for comparison): each offspring is made from the population as
  updated by the previous one, so they cannot be handed out together: `ask()` returns a list of one
  individual, `tell()` takes one row, and a generation is N such steps visiting the subproblems in a random
  order. z* and the neighbourhood are updated after each offspring (Zhang & Li's Algorithm 1).

External Pareto set (EP): every evaluated individual with a finite objective vector is offered; members it
dominates are removed, and it is added unless a member dominates it or has exactly the same objective vector
(a duplicate point adds nothing to the front).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

ORDERS = ("generational", "loop")


# ------------------------------------------------------------------------------------------ decomposition
def weight_vectors(n: int) -> np.ndarray:
    """The N two-objective weight vectors lambda_i = (i/(N-1), 1 - i/(N-1)), i = 0..N-1, both ends included
    (spec; the MO-ResNet code used i/N, so (1, 0) never occurred)."""
    if n < 2:
        raise ValueError(f"n={n} weight vectors: at least 2 are needed")
    t = np.arange(n) / (n - 1)
    return np.stack([t, 1 - t], axis=1)


def neighbourhoods(weights: np.ndarray, t: int) -> np.ndarray:
    """Row i: the indices of the `t` weight vectors nearest to weights[i] (Euclidean), itself first. Distances
    are rounded so that ties in exact arithmetic stay ties, which a stable sort then breaks towards the lower
    index: the result does not depend on floating-point noise."""
    d = np.round(np.linalg.norm(weights[:, None, :] - weights[None, :, :], axis=2), 12)
    return np.argsort(d, axis=1, kind="stable")[:, :t]


def chebyshev(f: np.ndarray, weights: np.ndarray, ideal: np.ndarray) -> np.ndarray:
    """g = max_k lambda_k |f_k - z*_k| for objective rows `f` (n, m) against weight rows (n, m) or one row
    (any shapes that broadcast: the batch update scores children (C, 1, m) against weights (N, m) at once).
    A non-finite objective row scores +inf (a failed evaluation never wins; also avoids 0 * inf = nan)."""
    f = np.atleast_2d(f)
    ok = np.all(np.isfinite(f), axis=-1)
    # Failed rows (and a z* still at +inf, which only happens while every row so far failed) are zeroed
    # before the arithmetic and set to +inf after, rather than computed under np.errstate: the finite rows get
    # exactly the same floats, and a call costs microseconds less (the 'loop' order makes one per child).
    f0 = np.where(ok[..., None], f, 0.0)
    z0 = np.where(np.isfinite(ideal), ideal, 0.0)
    g = np.max(weights * np.abs(f0 - z0), axis=-1)
    return np.where(ok, g, np.inf)


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """Pareto dominance for minimisation: a is nowhere worse and somewhere better."""
    return bool(np.all(a <= b) and np.any(a < b))


# ----------------------------------------------------------------------------------------------- MOEA/D
class MOEAD:
    """MOEA/D as ask/tell. See the module docstring for the two update orders.

    pop_size            N, the number of subproblems (and of individuals in the population)
    initial             initial(rng) -> individual
    variation           variation(parent_a, parent_b, rng) -> child (crossover and mutation together)
    n_obj               m; weight vectors default to `weight_vectors(N)` for m = 2, else pass `weights`
    n_neighbors         T; default floor(N/5) (spec), at least 2 so that two distinct parents exist
    order               'generational' (the paper) or 'loop' (original MOEA/D / pymoo)
    neighbour_mating    probability of drawing the parents from B(i) rather than the whole population
                        (1.0 in the paper; pymoo's default is 0.9)
    """

    def __init__(self, pop_size: int, initial: Callable, variation: Callable, n_obj: int = 2,
                 n_neighbors: int | None = None, order: str = "generational", seed: int = 0,
                 weights: np.ndarray | None = None, neighbour_mating: float = 1.0):
        if order not in ORDERS:
            raise ValueError(f"order={order!r}; allowed: {ORDERS}")
        if weights is None:
            if n_obj != 2:
                raise ValueError("weight_vectors() covers two objectives; pass `weights` (N, m) for more")
            weights = weight_vectors(pop_size)
        self.weights = np.asarray(weights, dtype=float)
        if self.weights.shape != (pop_size, n_obj):
            raise ValueError(f"weights have shape {self.weights.shape}, expected {(pop_size, n_obj)}")
        self.pop_size, self.n_obj, self.order = pop_size, n_obj, order
        self.n_neighbors = min(pop_size, max(2, pop_size // 5 if n_neighbors is None else n_neighbors))
        self.neighbors = neighbourhoods(self.weights, self.n_neighbors)
        self.initial, self.variation, self.neighbour_mating = initial, variation, neighbour_mating
        self.seed = seed
        self.rng = np.random.default_rng(seed)

        self.population: list = []                   # x_i, the current solution of subproblem i
        self.F = np.full((pop_size, n_obj), np.inf)  # its objectives
        self.ideal = np.full(n_obj, np.inf)          # z*
        self.ep: list = []                           # external Pareto set: individuals ...
        self.ep_F = np.empty((0, n_obj))             # ... and their objectives
        self.generation = 0                          # completed generations (0 = initial population)
        self.n_evals = 0
        self._pending: list = []                     # asked, not yet told
        self._subproblems: list[int] = []            # which subproblem each pending child belongs to
        self._loop_queue: list[int] = []             # 'loop': subproblems still to visit this generation

    # ------------------------------------------------------------------------------------------- ask
    def ask(self) -> list:
        """The individuals to evaluate next: the initial population on the first call; then one generation's
        N offspring ('generational') or a single offspring ('loop')."""
        if self._pending:
            raise RuntimeError("ask() called twice without tell()")
        if not self.population:
            self._pending = [self.initial(self.rng) for _ in range(self.pop_size)]
            self._subproblems = list(range(self.pop_size))
        elif self.order == "generational":
            self._subproblems = list(range(self.pop_size))
            self._pending = [self._offspring(i) for i in self._subproblems]
        else:
            if not self._loop_queue:  # a new generation visits the subproblems in random order (as pymoo)
                self._loop_queue = [int(i) for i in self.rng.permutation(self.pop_size)]
            self._subproblems = [self._loop_queue.pop(0)]
            self._pending = [self._offspring(self._subproblems[0])]
        return list(self._pending)

    def _offspring(self, i: int):
        """A child for subproblem i from two distinct parents of its neighbourhood (or, with probability
        1 - neighbour_mating, of the whole population)."""
        pool = self.neighbors[i] if self.rng.random() < self.neighbour_mating else np.arange(self.pop_size)
        a, b = self.rng.choice(pool, size=2, replace=False)
        return self.variation(self.population[a], self.population[b], self.rng)

    # ------------------------------------------------------------------------------------------ tell
    def tell(self, objectives) -> None:
        """Objectives (n, m) of the last `ask()`, minimised, in its order; NaN or inf marks a failure."""
        F = np.array(objectives, dtype=float).reshape(len(self._pending), self.n_obj)
        F[~np.all(np.isfinite(F), axis=1)] = np.inf  # a failure is a whole row of inf
        batch, subs = self._pending, self._subproblems
        self._pending, self._subproblems = [], []
        self.n_evals += len(batch)
        self.ideal = np.minimum(self.ideal, F.min(axis=0))  # inf rows leave z* unchanged
        self._offer_ep(batch, F)
        if not self.population:  # the initial population: subproblem i gets individual i
            self.population, self.F = list(batch), F
            return
        self._replace(batch, F, subs)
        if self.order == "generational" or not self._loop_queue:
            self.generation += 1

    def _replace(self, batch: list, F: np.ndarray, subs: list[int]) -> None:
        """The neighbourhood update for told children `batch` (objectives F, child c made for subproblem
        subs[c]): each neighbour j of subs[c] whose Chebyshev value under lambda_j the child strictly lowers takes
        the child, the children taken one after the other in batch order (z* is fixed during the update).
        A batch is done at once, with the same result: slot j ends with the first child, in batch order, of the
        lowest g_j among those whose neighbourhood holds j, when that g_j is below the incumbent's (each later
        child must beat the one that replaced the incumbent, and a tie does not replace)."""
        if len(subs) == 1:  # 'loop': one child, its neighbourhood only (the per-child cost is the point there)
            nb = self.neighbors[subs[0]]
            w = self.weights[nb]
            wins = nb[chebyshev(F[0], w, self.ideal) < chebyshev(self.F[nb], w, self.ideal)]
            for j in wins:
                self.population[j], self.F[j] = batch[0], F[0].copy()
            return
        n = self.pop_size
        member = np.zeros((len(subs), n), dtype=bool)
        member[np.arange(len(subs))[:, None], self.neighbors[subs]] = True  # child c may replace slot j
        g_child = chebyshev(F[:, None, :], self.weights[None, :, :], self.ideal)  # (children, N)
        g_child[~member] = np.inf
        best = np.argmin(g_child, axis=0)                                     # first minimum: earliest child
        wins = g_child[best, np.arange(n)] < chebyshev(self.F, self.weights, self.ideal)
        for j in np.flatnonzero(wins):
            c = best[j]
            self.population[j], self.F[j] = batch[c], F[c].copy()

    def _offer_ep(self, batch: list, F: np.ndarray) -> None:
        """Offer the told individuals to EP, with the result of offering them one at a time in batch order: a
        point enters unless a member or an earlier point of the batch dominates it or has exactly its
        objective vector; members (old or new) that a point of the batch dominates leave. (Dominance is
        transitive, so a point dominated by one that a later point removed is dominated by that later point
        too.) EP keeps the order of offering: surviving members first, then the new points in batch order."""
        ok = np.all(np.isfinite(F), axis=1)
        new = F[ok]                                                  # (c, m)
        if not len(new):
            return
        old = self.ep_F                                              # (e, m): mutually non-dominated, distinct
        # a member <= a point everywhere either dominates it or has its exact vector: the point is refused
        refused = (old[None, :, :] <= new[:, None, :]).all(axis=2).any(axis=1)
        if len(new) == 1:
            if refused[0]:
                return
            keep_old = ~(new[0] <= old).all(axis=1)  # not equal to any member, so <= everywhere is dominance
            keep_new = np.ones(1, dtype=bool)
        else:
            le = (new[:, None, :] <= new[None, :, :]).all(axis=2)   # le[a, b]: point a <= point b everywhere
            lt = (new[:, None, :] < new[None, :, :]).any(axis=2)
            earlier_equal = np.triu(le & le.T, 1).any(axis=0)      # an earlier point has b's exact vector
            keep_new = ~(refused | (le & lt).any(axis=0) | earlier_equal)
            dom = (new[:, None, :] <= old[None, :, :]).all(axis=2) & (new[:, None, :] < old[None, :, :]).any(axis=2)
            keep_old = ~dom.any(axis=0)
        if keep_old.all() and not keep_new.any():
            return
        new_items = [x for x, k in zip(batch, ok) if k]
        self.ep = [self.ep[k] for k in np.flatnonzero(keep_old)] + [x for x, k in zip(new_items, keep_new) if k]
        self.ep_F = np.vstack([old[keep_old], new[keep_new]])

    # --------------------------------------------------------------------------------------- results
    def pareto_set(self) -> list:
        """EP members, ordered by their first objective."""
        return [self.ep[k] for k in np.argsort(self.ep_F[:, 0], kind="stable")]

    def pareto_front(self) -> np.ndarray:
        """EP objectives (k, m), ordered by the first objective."""
        return self.ep_F[np.argsort(self.ep_F[:, 0], kind="stable")]

    # ---------------------------------------------------------------------------------- persistence
    def settings(self) -> dict:
        """What fixes this search's course besides its individuals: compared on resuming (`from_state`)."""
        return {"pop_size": self.pop_size, "n_obj": self.n_obj, "n_neighbors": self.n_neighbors,
                "order": self.order, "neighbour_mating": self.neighbour_mating, "seed": self.seed,
                "weights": self.weights.tolist()}

    def state_dict(self, encode: Callable[[Any], Any] | None = None) -> dict:
        """A JSON-able snapshot (json.dumps writes inf as Infinity and reads it back). `encode` turns an
        individual into JSON-able data; the default handles numpy arrays and anything JSON-able already.
        Take it after `tell()`: asked-but-untold offspring are not saved."""
        enc = encode or _jsonable
        return {
            **self.settings(), "generation": self.generation, "n_evals": self.n_evals,
            "population": [enc(x) for x in self.population], "F": self.F.tolist(),
            "ideal": self.ideal.tolist(), "ep": [enc(x) for x in self.ep], "ep_F": self.ep_F.tolist(),
            "loop_queue": list(self._loop_queue), "rng": self.rng.bit_generator.state,
        }

    @classmethod
    def from_state(cls, state: dict, initial: Callable, variation: Callable,
                   decode: Callable[[Any], Any] | None = None, expect: dict | None = None) -> "MOEAD":
        """Rebuild from `state_dict()`; `decode` inverts its `encode` (default: identity). The random state is
        restored too, so a resumed search continues exactly as the uninterrupted one would.

        expect: settings the resumed search must have (e.g. `MOEAD(...).settings()` of the search being asked
        for); a state saved with others raises ValueError naming them, rather than resuming another search."""
        mismatched = {k: (state.get(k), v) for k, v in (expect or {}).items() if state.get(k) != v}
        if mismatched:
            raise ValueError("the saved MOEA/D state is of another search: "
                             + "; ".join(f"{k}={saved!r} saved, {k}={want!r} asked"
                                         for k, (saved, want) in mismatched.items()))
        pop = len(state["population"])
        if pop not in (0, state["pop_size"]) or len(state["weights"]) != state["pop_size"]:
            raise ValueError(f"the saved MOEA/D state is inconsistent: pop_size={state['pop_size']}, "
                             f"{pop} individuals, {len(state['weights'])} weight vectors")
        dec = decode or (lambda v: v)
        self = cls(state["pop_size"], initial, variation, n_obj=state["n_obj"],
                   n_neighbors=state["n_neighbors"], order=state["order"], seed=state.get("seed", 0),
                   weights=np.array(state["weights"]), neighbour_mating=state["neighbour_mating"])
        self.generation, self.n_evals = state["generation"], state["n_evals"]
        self.population = [dec(x) for x in state["population"]]
        self.F = np.array(state["F"], dtype=float).reshape(-1, self.n_obj)
        self.ideal = np.array(state["ideal"], dtype=float)
        self.ep = [dec(x) for x in state["ep"]]
        self.ep_F = np.array(state["ep_F"], dtype=float).reshape(-1, self.n_obj)
        self._loop_queue = list(state["loop_queue"])
        self.rng.bit_generator.state = state["rng"]
        return self


def _jsonable(x):
    if isinstance(x, np.ndarray):
        return x.tolist()
    if hasattr(x, "to_json"):
        return x.to_json()
    return x


def run_moead(moead: MOEAD, evaluate: Callable, n_evals: int) -> MOEAD:
    """Ask and tell until at least `n_evals` evaluations were told; `evaluate(list) -> array (n, m)`. Batches
    are told whole, so the count overshoots unless `n_evals` is a multiple of N ('generational')."""
    while moead.n_evals < n_evals:
        moead.tell(evaluate(moead.ask()))
    return moead


__all__ = ["MOEAD", "ORDERS", "chebyshev", "dominates", "neighbourhoods", "run_moead", "weight_vectors"]
