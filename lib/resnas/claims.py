"""The claims ledger: each headline claim of the five papers, our estimate with a 95% interval, and a verdict.

A `Claim` says what a paper states (file and line, a short quote), in our own words and under its condition, with
the direction the paper asserts (`kind`). A notebook turns its per-run results into one ledger row per claim with
`decide` (two arms or per-run effects), `decide_correlation` (a rank correlation against a threshold) or
`decide_estimate` (an estimate and p-values it computed itself), and writes them with `record(out, rows)`.
`gather(profile_dir)` collects every notebook's `claims.csv`, corrects across the ledger (Holm) and writes
`<profile_dir>/claims.csv` and `CLAIMS.md`, which the results README shows first.

Verdicts. Every test is one-sided at level ALPHA = 0.025, so that "holds" agrees with a two-sided 95% interval
that excludes no-effect on the paper's side:
- greater / less: holds when the test rejects no-effect (`null`) towards the paper's side; contradicted when it
  rejects it towards the other side; inconclusive otherwise.
- equivalent: two one-sided tests (TOST) against null - margin and null + margin; holds when both reject
  (p_holds is the larger p). Contradicted when the estimate lies beyond the margin (the smaller of the two
  one-sided "outside" p-values, doubled for the two sides it could fall on).
- noninferior: one-sided test against null - margin (higher is better); contradicted when the estimate is
  shown to lie below null - margin.
Rank tests (Wilcoxon signed-rank when runs share seeds, Mann-Whitney otherwise) decide; a bootstrap
(scipy.stats.bootstrap) gives the interval shown beside them.

`runs_needed` is the runs of the row's unit (per arm for two arms) that 80% power would take at the observed
effect and spread: n = ((z_{1-ALPHA} + z_{0.8}) * sd / |effect - threshold|)^2, inflated by 1/0.955 for the rank
tests' efficiency and never below the smallest n at which the rank test can reach ALPHA at all.
"""
from __future__ import annotations

import argparse
import importlib
import io
import json
import math
import re
import subprocess
import sys
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

ALPHA = 0.025  # one-sided level of every test: a two-sided 95% interval
POWER = 0.8
KINDS = ("greater", "less", "equivalent", "noninferior")
PROTOCOLS = ("same data and budget", "proxy data", "proxy budget", "proxy data and budget")
PAPERS = ("ERA", "MO-ResNet", "ECToNAS", "RNAS", "GENAS")
VERDICTS = ("holds", "contradicted", "inconclusive")
N_RESAMPLES = 2000  # bootstrap resamples for the interval (tests pass fewer to stay fast)
RANK_ARE = 3 / math.pi  # asymptotic efficiency of Wilcoxon / Mann-Whitney against the t test (normal data)
EXPERIMENT_MODULES = ("era", "fidelity", "ranking", "ectonas", "mo_resnet", "genas")


@dataclass(frozen=True)
class Claim:
    id: str  # "era.guided_beats_random": unique, dotted <paper>.<name>
    paper: str  # one of PAPERS
    where: str  # "era-thesis.txt:439" or "era-thesis.txt:426-428" in ../shared/papers/
    quote: str  # short exact substring of those lines (whitespace-normalised, case-insensitive)
    statement: str  # the claim in our own words, with the condition it holds under
    paper_figure: str  # the paper's own number(s), "" if none
    kind: str  # one of KINDS
    unit: str  # what the estimate measures
    null: float = 0.0  # the no-effect value or threshold
    margin: float = 0.0  # for equivalent / noninferior, in the estimate's unit
    protocol: str = "proxy data and budget"  # one of PROTOCOLS
    mapping: str = ""  # how the paper's budget maps onto ours
    inferred: bool = False  # implied by the paper's design, not stated by it

    def __post_init__(self):
        # checked at definition, so a bad claim stops the import of its module, not a notebook an hour in
        if not re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)+", self.id):
            raise ValueError(f"Claim id={self.id!r}: allowed is dotted lower-case <paper>.<name>")
        if self.paper not in PAPERS:
            raise ValueError(f"Claim {self.id}: paper={self.paper!r}; allowed: {', '.join(PAPERS)}")
        if self.kind not in KINDS:
            raise ValueError(f"Claim {self.id}: kind={self.kind!r}; allowed: {', '.join(KINDS)}")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"Claim {self.id}: protocol={self.protocol!r}; allowed: {', '.join(PROTOCOLS)}")
        if not re.fullmatch(r"[\w.-]+\.txt:\d+(-\d+)?", self.where):
            raise ValueError(f"Claim {self.id}: where={self.where!r}; allowed: '<file>.txt:<line>' or "
                             "'<file>.txt:<first>-<last>'")
        if not math.isfinite(self.null) or not math.isfinite(self.margin):
            raise ValueError(f"Claim {self.id}: null and margin must be finite numbers")
        if self.kind == "equivalent" and self.margin <= 0:
            raise ValueError(f"Claim {self.id}: margin={self.margin} for an equivalence claim; allowed: > 0")
        if self.margin < 0:
            raise ValueError(f"Claim {self.id}: margin={self.margin}; allowed: >= 0")

    def lines(self) -> tuple[str, int, int]:
        """(file, first line, last line) of `where`."""
        file, span = self.where.rsplit(":", 1)
        first, _, last = span.partition("-")
        return file, int(first), int(last or first)


CLAIM_FIELDS = tuple(f.name for f in fields(Claim))
RESULT_FIELDS = ("estimate", "low", "high", "n", "n_unit", "test", "p_holds", "p_contradicts", "verdict",
                 "runs_needed", "seconds_per_run", "note")
COLUMNS = CLAIM_FIELDS + RESULT_FIELDS
NAN = float("nan")


# ---------------------------------------------------------------------------------------------- helpers

def _verdict(p_holds: float, p_contradicts: float, alpha: float = ALPHA) -> str:
    if np.isfinite(p_holds) and p_holds < alpha:
        return "holds"
    if np.isfinite(p_contradicts) and p_contradicts < alpha:
        return "contradicted"
    return "inconclusive"


def _row(claim: Claim, *, estimate=NAN, low=NAN, high=NAN, n=0, n_unit="runs", test="", p_holds=NAN,
         p_contradicts=NAN, verdict=None, runs_needed=NAN, seconds_per_run=NAN, note="") -> dict:
    verdict = verdict or _verdict(p_holds, p_contradicts)
    return {**asdict(claim), "estimate": float(estimate), "low": float(low), "high": float(high), "n": int(n),
            "n_unit": n_unit, "test": test, "p_holds": float(p_holds), "p_contradicts": float(p_contradicts),
            "verdict": verdict, "runs_needed": float(runs_needed), "seconds_per_run": float(seconds_per_run),
            "note": note.strip()}


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def _sides(claim: Claim) -> tuple[float, float]:
    """(shift, sign) so that the paper's side is `sign * (effect - shift) > 0` for greater/less/noninferior."""
    if claim.kind == "greater":
        return claim.null, 1.0
    if claim.kind == "less":
        return claim.null, -1.0
    if claim.kind == "noninferior":
        return claim.null - claim.margin, 1.0
    raise AssertionError(claim.kind)


def _interval(data: tuple, statistic, *, paired: bool, seed: int, n_resamples: int) -> tuple[float, float]:
    """95% bootstrap interval (BCa, percentile where BCa is undefined, e.g. tiny or lumpy samples)."""
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                res = stats.bootstrap(data, statistic, paired=paired, vectorized=False, n_resamples=n_resamples,
                                      confidence_level=0.95, method=method, rng=np.random.default_rng(seed))
            except ValueError:
                continue
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if np.isfinite(lo) and np.isfinite(hi):
            return lo, hi
    return NAN, NAN


def _one_sided(x: np.ndarray, y: np.ndarray | None, shift: float, alternative: str) -> float:
    """p of the rank test that the location of x - shift (one sample / paired differences) or of x - shift
    against y (two samples) lies on `alternative`'s side of zero."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if y is None:
            d = x - shift
            if np.all(d == 0):
                return 1.0
            return float(stats.wilcoxon(d, alternative=alternative, zero_method="zsplit").pvalue)
        return float(stats.mannwhitneyu(x - shift, y, alternative=alternative).pvalue)


def _min_n(two_sample: bool) -> int:
    """Smallest n (per arm) at which the exact rank test can reach ALPHA one-sided."""
    n = 1
    while (1 / math.comb(2 * n, n) if two_sample else 0.5 ** n) >= ALPHA:
        n += 1
    return n


def _power_n(sd: float, distance: float, *, two_sample: bool, z_beta: float | None = None,
             efficiency: float = RANK_ARE) -> float:
    """Runs (per arm for two samples) for POWER at a true distance `distance` from the threshold."""
    if not (np.isfinite(sd) and sd > 0 and np.isfinite(distance) and distance > 0):
        return NAN
    z_a = stats.norm.ppf(1 - ALPHA)
    z_b = stats.norm.ppf(POWER) if z_beta is None else z_beta
    n = ((z_a + z_b) * sd / distance) ** 2 * (2 if two_sample else 1) / efficiency
    return float(max(math.ceil(n + z_a ** 2 / 4), _min_n(two_sample)))  # + z^2/4: small-n t correction


def _runs_needed(claim: Claim, estimate: float, sd: float, *, two_sample: bool) -> tuple[float, str]:
    """(runs for 80% power at the observed effect and spread, note)."""
    if not np.isfinite(sd) or sd <= 0:
        return NAN, "spread unknown: runs needed not estimated"
    if claim.kind == "equivalent":
        gap = claim.margin - abs(estimate - claim.null)
        if gap <= 0:
            return NAN, "observed effect at or beyond the margin: more runs would not make it hold"
        # TOST: at a true effect of 0 both tests must pass (power split over two sides), else the nearer one binds
        z_b = stats.norm.ppf(1 - (1 - POWER) / 2) if estimate == claim.null else None
        return _power_n(sd, gap, two_sample=two_sample, z_beta=z_b), ""
    shift, _ = _sides(claim)
    distance = abs(estimate - shift)
    if distance == 0:
        return NAN, "no effect observed: runs needed undefined"
    return _power_n(sd, distance, two_sample=two_sample), ""


def _clean(values, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sequence of numbers") from None
    return arr


# ---------------------------------------------------------------------------------------------- deciding

def decide(claim: Claim, a, b=None, *, paired: bool = False, n_unit: str = "seeds", seconds_per_run: float = NAN,
           seed: int = 0, note: str = "", n_resamples: int = N_RESAMPLES) -> dict:
    """One ledger row from per-run values. `a`: the arm the claim is about; `b`: the comparator (None: `a` holds
    per-run effects compared with `claim.null`). `paired=True` when a[i] and b[i] share seed i (Wilcoxon on the
    differences, paired bootstrap); otherwise Mann-Whitney and a two-sample bootstrap. Estimate: mean(a - b).
    NaN runs are dropped (pairs with a NaN side for paired data) and counted in the note."""
    if not isinstance(claim, Claim):
        raise ValueError(f"claim must be a Claim, got {type(claim).__name__}")
    a = _clean(a, "a")
    b = None if b is None else _clean(b, "b")
    if paired and b is None:
        raise ValueError("paired=True needs b (the comparator's per-run values); allowed: b=None with paired=False")
    if paired and len(a) != len(b):
        raise ValueError(f"paired=True needs a and b of equal length (one value per shared seed); got "
                         f"len(a)={len(a)}, len(b)={len(b)}")
    notes = [note]
    if paired or b is None:
        x = a - b if paired else a
        keep = np.isfinite(x)
        y, two = None, False
        x = x[keep]
        dropped = int((~keep).sum())
        n = len(x)
        test = "Wilcoxon signed-rank" + (" (paired)" if paired else "")
    else:
        x, y, two = a[np.isfinite(a)], b[np.isfinite(b)], True
        dropped = len(a) - len(x) + len(b) - len(y)
        n = min(len(x), len(y))
        test = "Mann-Whitney U"
    if dropped:
        notes.append(f"{dropped} NaN run(s) dropped")
    base = dict(n=n, n_unit=n_unit + (" per arm" if two else ""), test=test, seconds_per_run=seconds_per_run)
    if n < 2:
        return _row(claim, **base, estimate=(np.mean(x) - (np.mean(y) if two else 0)) if n else NAN,
                    verdict="inconclusive", note=_join(*notes, f"n={n} < 2: no test possible"))
    estimate = float(np.mean(x) - (np.mean(y) if two else 0.0))
    spread = (np.ptp(x) == 0 and np.ptp(y) == 0) if two else np.ptp(x) == 0
    if spread:
        return _row(claim, **base, estimate=estimate, low=estimate, high=estimate, verdict="inconclusive",
                    note=_join(*notes, f"all {'values in each arm' if two else 'values'} equal (no spread): "
                               "a rank test and an interval need variation"))
    if two:
        low, high = _interval((x, y), lambda u, v: np.mean(u) - np.mean(v), paired=False, seed=seed,
                              n_resamples=n_resamples)
        sd = math.sqrt((np.var(x, ddof=1) * (len(x) - 1) + np.var(y, ddof=1) * (len(y) - 1))
                       / (len(x) + len(y) - 2))
    else:
        low, high = _interval((x,), np.mean, paired=False, seed=seed, n_resamples=n_resamples)
        sd = float(np.std(x, ddof=1))
    p_h, p_c = _p_values(claim, lambda shift, alt: _one_sided(x, y, shift, alt))
    runs, why = _runs_needed(claim, estimate, sd, two_sample=two)
    return _row(claim, **base, estimate=estimate, low=low, high=high, p_holds=p_h, p_contradicts=p_c,
                runs_needed=runs, note=_join(*notes, why))


def _p_values(claim: Claim, one_sided) -> tuple[float, float]:
    """(p_holds, p_contradicts) from `one_sided(shift, alternative)`, the p that the effect lies beyond `shift`
    on `alternative`'s side."""
    if claim.kind == "equivalent":
        lo, hi = claim.null - claim.margin, claim.null + claim.margin
        p_holds = max(one_sided(lo, "greater"), one_sided(hi, "less"))
        p_outside = min(1.0, 2 * min(one_sided(lo, "less"), one_sided(hi, "greater")))
        return p_holds, p_outside
    shift, sign = _sides(claim)
    paper, other = ("greater", "less") if sign > 0 else ("less", "greater")
    return one_sided(shift, paper), one_sided(shift, other)


# Standard errors of atanh(r): Fieller, Hartley & Pearson (1957) for Spearman and Kendall
_CORR = {"spearman": (stats.spearmanr, 1.06, 3), "kendall": (stats.kendalltau, 0.437, 4)}


def decide_correlation(claim: Claim, x, y, *, method: str = "spearman", n_unit: str = "networks",
                       seconds_per_run: float = NAN, seed: int = 0, note: str = "",
                       n_resamples: int = N_RESAMPLES) -> dict:
    """One ledger row: the rank correlation of paired x, y (estimate, bootstrap interval over pairs) against
    `claim.null` (e.g. 0.5 for "ranks well"). Test: Fisher's z on atanh(r) with Fieller's standard error."""
    if not isinstance(claim, Claim):
        raise ValueError(f"claim must be a Claim, got {type(claim).__name__}")
    if method not in _CORR:
        raise ValueError(f"method={method!r}; allowed: {', '.join(_CORR)}")
    x, y = _clean(x, "x"), _clean(y, "y")
    if len(x) != len(y):
        raise ValueError(f"x and y must pair up (one value each per network); got len(x)={len(x)}, len(y)={len(y)}")
    keep = np.isfinite(x) & np.isfinite(y)
    notes = [note] + ([f"{int((~keep).sum())} pair(s) with NaN dropped"] if (~keep).any() else [])
    x, y = x[keep], y[keep]
    func, var, k = _CORR[method]
    n = len(x)
    test = f"{method.capitalize()} correlation, Fisher z"
    base = dict(n=n, n_unit=n_unit, test=test, seconds_per_run=seconds_per_run)
    if n <= k:
        return _row(claim, **base, verdict="inconclusive", note=_join(*notes, f"n={n} pairs: at least {k + 1} "
                                                                             f"needed for a {method} test"))
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return _row(claim, **base, verdict="inconclusive",
                    note=_join(*notes, "constant values: the rank correlation is undefined"))
    r = float(func(x, y)[0])
    low, high = _interval((x, y), lambda u, v: func(u, v)[0], paired=True, seed=seed, n_resamples=n_resamples)
    se = math.sqrt(var / (n - k))
    z = math.atanh(min(max(r, -0.9999), 0.9999))

    def one_sided(shift: float, alternative: str) -> float:
        if not -1 < shift < 1:  # a threshold outside (-1, 1): the correlation is surely on its inner side
            return 0.0 if (alternative == "greater") == (shift <= -1) else 1.0
        t = (z - math.atanh(shift)) / se
        return float(stats.norm.sf(t) if alternative == "greater" else stats.norm.cdf(t))

    p_h, p_c = _p_values(claim, one_sided)
    # power on the z scale: sd of atanh(r) is sqrt(var) per pair, plus the k pairs the formula spends
    if claim.kind == "equivalent":
        gap = math.atanh(min(claim.null + claim.margin, 0.9999)) - abs(z)  # symmetric margins around 0 assumed
        runs, why = (_power_n(math.sqrt(var), gap, two_sample=False, efficiency=1.0) + k, "") if gap > 0 else (
            NAN, "observed correlation at or beyond the margin: more runs would not make it hold")
    else:
        shift, _ = _sides(claim)
        dist = abs(z - math.atanh(min(max(shift, -0.9999), 0.9999)))
        runs, why = ((_power_n(math.sqrt(var), dist, two_sample=False, efficiency=1.0) + k, "") if dist > 0
                     else (NAN, "no effect observed: runs needed undefined"))
    return _row(claim, **base, estimate=r, low=low, high=high, p_holds=p_h, p_contradicts=p_c, runs_needed=runs,
                note=_join(*notes, why))


def decide_estimate(claim: Claim, estimate, low, high, n, *, test: str, p_holds, p_contradicts=NAN,
                    n_unit: str = "runs", runs_needed=NAN, seconds_per_run: float = NAN, note: str = "") -> dict:
    """One ledger row from an estimate, its 95% interval and one-sided p-values the notebook computed itself
    (a binomial share, an IGD TOST). The verdict compares the p-values with ALPHA (0.025 one-sided)."""
    if not isinstance(claim, Claim):
        raise ValueError(f"claim must be a Claim, got {type(claim).__name__}")
    if not test:
        raise ValueError("test must name the test that gave the p-values")
    for name, p in (("p_holds", p_holds), ("p_contradicts", p_contradicts)):
        if np.isfinite(float(p)) and not 0 <= float(p) <= 1:
            raise ValueError(f"{name}={p}; allowed: a probability in [0, 1] or NaN")
    if np.isfinite(float(low)) and np.isfinite(float(high)) and float(low) > float(high):
        raise ValueError(f"low={low} > high={high}: the interval must be (low, high)")
    notes = [note]
    if not np.isfinite(float(p_holds)):
        notes.append("no p-value for the paper's side")
    return _row(claim, estimate=estimate, low=low, high=high, n=int(n), n_unit=n_unit, test=test,
                p_holds=float(p_holds), p_contradicts=float(p_contradicts), runs_needed=runs_needed,
                seconds_per_run=seconds_per_run, note=_join(*notes))


def record(out, rows: list[dict]) -> pd.DataFrame:
    """Write the notebook's ledger rows as `claims.csv` in its result folder (atomic, through `out.table`, kept
    out of its README section: the ledger heads the README instead) and return them as a frame."""
    if not rows:
        raise ValueError("rows is empty: record at least one decided claim (a ci run decides them too)")
    for r in rows:
        missing = [c for c in COLUMNS if c not in r]
        if missing:
            raise ValueError(f"a row lacks {missing}: rows come from decide / decide_correlation / decide_estimate")
        if r["verdict"] not in VERDICTS:
            raise ValueError(f"row {r['id']}: verdict={r['verdict']!r}; allowed: {', '.join(VERDICTS)}")
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    dup = df["id"][df["id"].duplicated()].tolist()
    if dup:
        raise ValueError(f"claim ids recorded twice: {dup}; each claim gets one row")
    return out.table(df, "claims", "Claims decided by this notebook (before the ledger's Holm correction)",
                     readme=False)


def all_claims() -> dict[str, Claim]:
    """Every `CLAIMS` dict of the experiment modules that define one, merged (ids unique across them)."""
    found: dict[str, Claim] = {}
    for name in EXPERIMENT_MODULES:
        try:
            module = importlib.import_module(f"resnas.experiments.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"resnas.experiments.{name}":
                raise
            continue
        for key, claim in getattr(module, "CLAIMS", {}).items():
            if key != claim.id:
                raise ValueError(f"resnas.experiments.{name}.CLAIMS[{key!r}] holds claim id {claim.id!r}: "
                                 "the key must be the claim's id")
            if key in found:
                raise ValueError(f"claim id {key!r} is defined twice (again in resnas.experiments.{name})")
            found[key] = claim
    return found
