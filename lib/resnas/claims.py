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
effect and spread (the ledger shows it at the level Holm's procedure would test the row at: `holm_runs_needed`): n = ((z_{1-ALPHA} + z_{0.8}) * sd / |effect - threshold|)^2, inflated by 1/0.955 for the rank
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
MIN_BOOTSTRAP_N = 8  # below this many runs (per arm) the interval is Student t, not a bootstrap
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
TEXT_COLUMNS = ("paper_figure", "mapping", "note")  # often empty: read back as "" rather than NaN


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


def _t_interval(estimate: float, se: float, df: int) -> tuple[float, float]:
    """95% Student-t interval: with a handful of runs a bootstrap only reshuffles them and its interval is far
    too narrow (two seeds give at most three distinct resampled means)."""
    half = stats.t.ppf(1 - ALPHA, max(df, 1)) * se
    return estimate - half, estimate + half


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
    shift, sign = _sides(claim)
    distance = abs(estimate - shift)
    if distance == 0:
        return NAN, "no effect observed: runs needed undefined"
    other = ("" if sign * (estimate - shift) > 0
             else "runs needed: to contradict (the observed effect is on the other side)")
    return _power_n(sd, distance, two_sample=two_sample), other


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
    # No spread is no reason to skip the test: eight seeds that all differ by -4 points are strong evidence
    # (exact Wilcoxon p = 1/256); only the bootstrap interval degenerates, to the point itself.
    flat = (np.ptp(x) == 0 and np.ptp(y) == 0) if two else np.ptp(x) == 0
    if flat:
        low = high = estimate
        sd = 0.0
        notes.append(f"all {'values in each arm' if two else 'values'} equal: the interval is a point")
    elif two:
        sd = math.sqrt((np.var(x, ddof=1) * (len(x) - 1) + np.var(y, ddof=1) * (len(y) - 1))
                       / (len(x) + len(y) - 2))
        if n < MIN_BOOTSTRAP_N:
            low, high = _t_interval(estimate, math.sqrt(np.var(x, ddof=1) / len(x) + np.var(y, ddof=1) / len(y)),
                                    min(len(x), len(y)) - 1)
        else:
            low, high = _interval((x, y), lambda u, v: np.mean(u) - np.mean(v), paired=False, seed=seed,
                                  n_resamples=n_resamples)
    else:
        sd = float(np.std(x, ddof=1))
        if n < MIN_BOOTSTRAP_N:
            low, high = _t_interval(estimate, sd / math.sqrt(n), n - 1)
        else:
            low, high = _interval((x,), np.mean, paired=False, seed=seed, n_resamples=n_resamples)
    if not flat and n < MIN_BOOTSTRAP_N:
        notes.append(f"interval: Student t (n={n} is too few runs for a bootstrap)")
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
    if not (np.isfinite(low) and np.isfinite(high)):
        # few pairs: resamples with tied (constant) columns leave the correlation undefined and the bootstrap
        # without an interval; the Fisher-z interval of the test itself stands in
        half = stats.norm.ppf(1 - ALPHA) * se
        low, high = math.tanh(z - half), math.tanh(z + half)
        notes.append("interval: Fisher z (the bootstrap is undefined at this n)")

    def one_sided(shift: float, alternative: str) -> float:
        if not -1 < shift < 1:  # a threshold outside (-1, 1): the correlation is surely on its inner side
            return 0.0 if (alternative == "greater") == (shift <= -1) else 1.0
        t = (z - math.atanh(shift)) / se
        return float(stats.norm.sf(t) if alternative == "greater" else stats.norm.cdf(t))

    p_h, p_c = _p_values(claim, one_sided)
    # power on the z scale: sd of atanh(r) is sqrt(var) per pair, plus the k pairs the formula spends
    if claim.kind == "equivalent":
        edge = lambda v: math.atanh(min(max(v, -0.9999), 0.9999))  # noqa: E731 (the margins on the z scale)
        gap = min(edge(claim.null + claim.margin) - z, z - edge(claim.null - claim.margin))
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


# ---------------------------------------------------------------------------------------------- the ledger

def holm(p) -> np.ndarray:
    """Holm's step-down adjusted p-values; NaN entries stay NaN and do not count among the tests."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out


def ledger(rows_frame: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """The rows of one ledger with Holm-adjusted p-values (`p_holds_holm` across the rows' p_holds,
    `p_contradicts_holm` across their p_contradicts) and `final_verdict` from them. A row the notebook already
    called inconclusive (no test possible) stays so."""
    missing = [c for c in COLUMNS if c not in rows_frame.columns]
    if missing:
        raise ValueError(f"rows_frame lacks the ledger columns {missing}")
    df = rows_frame.copy().reset_index(drop=True)
    df["p_holds_holm"] = holm(df["p_holds"])
    df["p_contradicts_holm"] = holm(df["p_contradicts"])
    df["final_verdict"] = [_verdict(h, c, alpha) for h, c in zip(df["p_holds_holm"], df["p_contradicts_holm"])]
    df["runs_needed_holm"] = holm_runs_needed(df, alpha)
    return df


def holm_runs_needed(df: pd.DataFrame, alpha: float = ALPHA) -> list[float]:
    """`runs_needed` at the level Holm's procedure would test an undecided row at: alpha / (m - d), with m the
    rows that have a p-value and d those already decided (each one Holm rejects lowers the bar for the rest).
    The power formula's n grows as (z_{1-level} + z_power)^2, so each row's n is rescaled by that ratio (and
    kept at least the rank test's smallest n at that level). Decided rows keep their own (unused) value."""
    tested = int(np.isfinite(pd.to_numeric(df["p_holds"], errors="coerce")).sum())
    decided = int(df["final_verdict"].isin(("holds", "contradicted")).sum())
    level = alpha / max(1, tested - decided)
    z_b = stats.norm.ppf(POWER)
    factor = ((stats.norm.ppf(1 - level) + z_b) / (stats.norm.ppf(1 - alpha) + z_b)) ** 2
    out = []
    for verdict, n in zip(df["final_verdict"], pd.to_numeric(df["runs_needed"], errors="coerce")):
        out.append(float(math.ceil(n * factor)) if verdict == "inconclusive" and np.isfinite(n) else float(n))
    return out


def _threshold_touched(row) -> bool:
    """Does the row's 95% interval touch (reach or cross) the threshold its verdict turns on? Unknown: yes."""
    lo, hi = float(row["low"]), float(row["high"])
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return True
    null, margin = float(row["null"]), float(row["margin"])
    if row["kind"] == "equivalent":
        edges = (null - margin, null + margin)
    elif row["kind"] == "noninferior":
        edges = (null - margin,)
    else:
        edges = (null,)
    return any(lo <= e <= hi for e in edges)


def _num(v, fmt="{:.3g}") -> str:
    return "—" if v is None or (isinstance(v, float) and not np.isfinite(v)) else fmt.format(v)


def _cell(text) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def ledger_table(df: pd.DataFrame) -> str:
    """The ledger as Markdown: claim (statement, where, inferred marker), paper's figure, ours ± interval, n,
    test, verdict, runs needed (with their compute on this profile), protocol distance."""
    head = ("| claim | paper's figure | ours [95% interval] | n | test | verdict | runs needed (compute here) "
            "| protocol |")
    lines = [head, "|" + " --- |" * 8]
    for _, r in df.iterrows():
        mark = " *(inferred: implied by the paper's design, not stated)*" if bool(r["inferred"]) else ""
        claim = f"**{_cell(r['id'])}**{mark}: {_cell(r['statement'])} (`{_cell(r['where'])}`)"
        ours = f"{_num(r['estimate'])} [{_num(r['low'])}, {_num(r['high'])}] {_cell(r['unit'])}"
        if r["kind"] in ("equivalent", "noninferior"):
            ours += f"; margin {_num(float(r['margin']))} around {_num(float(r['null']))}"
        elif float(r["null"]) != 0:
            ours += f"; threshold {_num(float(r['null']))}"
        verdict = str(r["final_verdict"])
        if verdict != r["verdict"]:
            verdict += f" (before Holm: {r['verdict']})"
        runs = "—"
        needed = float(r["runs_needed_holm"]) if "runs_needed_holm" in r else float(r["runs_needed"])
        if verdict.startswith("inconclusive") and np.isfinite(needed):
            runs = f"{int(needed)} {_cell(r['n_unit'])}"
            if np.isfinite(float(r["seconds_per_run"])):
                runs += f" ({needed * float(r['seconds_per_run']) / 3600:.2g} h)"
        if r["note"] and str(r["note"]) != "nan":
            runs += f"; {_cell(r['note'])}"
        protocol = _cell(r["protocol"]) + (f"; {_cell(r['mapping'])}" if str(r["mapping"]) not in ("", "nan") else "")
        test = f"{_cell(r['test'])}, Holm p={_num(float(r['p_holds_holm']), '{:.2g}')}"
        lines.append(f"| {claim} | {_cell(r['paper_figure']) or '—'} | {ours} | {int(r['n'])} {_cell(r['n_unit'])} "
                     f"| {test} | **{verdict}** | {runs} | {protocol} |")
    return "\n".join(lines)


def legend(n_claims: int) -> str:
    return (f"**holds**: a one-sided test at 2.5% rejects no effect on the paper's side after Holm's correction "
            f"across these {n_claims} claims (so the 95% interval excludes it; equivalence and non-inferiority "
            "rows: the stated margin); **contradicted**: the same on the other side; **inconclusive**: neither "
            "(runs needed: for 80% power at the observed effect and spread, at the level Holm's procedure would "
            "test the row at once the decided rows are set aside). A verdict on a proxy protocol "
            "speaks of the proxy, not of the paper's setting.")


def _claim_files(root: Path) -> list[Path]:
    """Each published notebook folder's claims.csv (not a failed run's, a staging folder's or the store's)."""
    return sorted(p for p in root.glob("*/claims.csv")
                  if not p.parent.name.endswith(".failed") and not p.parent.name.startswith(".")
                  and p.parent.name != "store")


def gather(profile_dir) -> Path | None:
    """Collect every `<profile_dir>/*/claims.csv` into one ledger (Holm across it), write
    `<profile_dir>/claims.csv` and `<profile_dir>/CLAIMS.md` atomically and return the CLAIMS.md path. Without
    any notebook claims, remove a stale ledger and return None."""
    from resnas.report import _atomic_write

    root = Path(profile_dir)
    files = _claim_files(root)
    if not files:
        for name in ("claims.csv", "CLAIMS.md"):
            (root / name).unlink(missing_ok=True)
        return None
    frames = []
    for f in files:
        frame = pd.read_csv(f, dtype={c: str for c in TEXT_COLUMNS})
        frame.insert(0, "folder", f.parent.name)
        frames.append(frame)
    rows = pd.concat(frames, ignore_index=True)
    for col in TEXT_COLUMNS:
        rows[col] = rows[col].fillna("")
    dup = rows["id"][rows["id"].duplicated()].tolist()
    if dup:
        raise ValueError(f"claim ids recorded by more than one notebook: {dup}")
    df = ledger(rows)
    _atomic_write(root / "claims.csv", lambda p: df.to_csv(p, index=False))
    counts = df["final_verdict"].value_counts()
    summary = ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)
    text = "\n".join([f"# Claims ledger: profile `{root.name}`", "",
                      f"{len(df)} claims from {len(files)} notebooks: {summary}.", "", legend(len(df)), "",
                      ledger_table(df), "", *_unrecorded(df)])
    out = root / "CLAIMS.md"
    _atomic_write(out, lambda p: p.write_text(text))
    return out


def readme_section(profile_dir) -> list[str]:
    """The results README's opening section: the ledger table and its legend (nothing without a ledger)."""
    path = Path(profile_dir) / "claims.csv"
    if not path.exists():
        return []
    df = pd.read_csv(path, dtype={c: str for c in TEXT_COLUMNS})
    for col in TEXT_COLUMNS:
        df[col] = df[col].fillna("")
    counts = df["final_verdict"].value_counts()
    summary = ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS)
    return ["## Claims ledger", "", f"Does each paper's claim hold here? {summary} of {len(df)} "
            "(all of it, with notes: `CLAIMS.md`, `claims.csv`).", "", legend(len(df)), "", ledger_table(df), "",
            *_unrecorded(df)]


def unrecorded(ids) -> list[str]:
    """The claims of `all_claims()` whose id is not among `ids`: their notebook did not run or failed."""
    return sorted(set(all_claims()) - set(ids))


def _unrecorded(df: pd.DataFrame) -> list[str]:
    missing = unrecorded(df["id"])
    if not missing:
        return []
    return [f"**Not decided in this profile's runs** ({len(missing)}; their notebook has not run here, or failed): "
            + ", ".join(f"`{m}`" for m in missing) + ".", ""]


# ---------------------------------------------------------------------------------------------- make compare

def machine_fingerprint() -> dict:
    """What a fresh run's numbers depend on beyond the code: resnas.evaluate.fingerprint (torch, CUDA, device,
    precision, Python, threads) and the CPU model. The pipeline records it in each folder's pipeline.json.
    `dtype` is the training precision as 'auto' resolves on this machine: 'bf16-autocast' on CUDA and on a CPU
    whose bf16 hardware resnas.threads.cpu_bf16() detects, else 'fp32' (TrainRecipe.precision)."""
    from resnas.evaluate import fingerprint

    from resnas.threads import cpu_id

    fp = dict(fingerprint())
    fp["cpu_id"] = cpu_id()  # the model name alone named two CPU kinds here whose results differed
    try:
        models = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")]
        fp["cpu"] = models[0] if models else ""
    except OSError:
        fp["cpu"] = ""
    return fp


@dataclass(frozen=True)
class Tolerance:
    """How close a fresh table must be to the committed one. Same fingerprint: what a CSV round trip of the same
    computation allows. Another fingerprint (CPU, threads, precision): floating-point order differs, so values
    drift; `other_*` bound the drift we accept. Timing columns (IGNORE) are never compared: they measure the
    machine and its load, not the method."""
    rtol: float = 1e-6
    atol: float = 1e-9
    other_rtol: float = 0.05
    other_atol: float = 0.01

    def of(self, same_machine: bool) -> tuple[float, float]:
        return (self.rtol, self.atol) if same_machine else (self.other_rtol, self.other_atol)


# columns measured in wall time or depending on what a cache held: never compared
IGNORE = re.compile(r"seconds|secs|hours|days|elapsed|wall|duration|started|finished|created|cached|checkpoint"
                    r"|^host$|run_id|timestamp")
# the ledger's verdict columns are compared as verdicts (flips allowed across machines), not as text
VERDICT_COLUMNS = ("verdict", "final_verdict")


def compare_tables(old: pd.DataFrame, new: pd.DataFrame, rtol: float, atol: float) -> list[str]:
    """What differs between two versions of one table (empty: equal within rtol/atol)."""
    diffs = []
    if list(old.columns) != list(new.columns):
        gone, added = set(old.columns) - set(new.columns), set(new.columns) - set(old.columns)
        return [f"columns differ (missing {sorted(gone)}, new {sorted(added)})" if gone or added
                else "columns reordered"]
    if len(old) != len(new):
        return [f"{len(old)} rows committed, {len(new)} now"]
    for col in old.columns:
        if IGNORE.search(col.lower()) or col in VERDICT_COLUMNS:
            continue
        a, b = old[col], new[col]
        if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
            x, y = a.to_numpy(float), b.to_numpy(float)
            bad = ~(np.isclose(x, y, rtol=rtol, atol=atol) | (np.isnan(x) & np.isnan(y)))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                diffs.append(f"column {col!r}: {int(bad.sum())} of {len(x)} values beyond rtol={rtol:g}, "
                             f"atol={atol:g} (row {i}: {x[i]!r} committed, {y[i]!r} now)")
        else:
            sa, sb = a.fillna("").astype(str), b.fillna("").astype(str)
            bad = (sa != sb).to_numpy()
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                diffs.append(f"column {col!r}: {int(bad.sum())} of {len(sa)} values differ "
                             f"(row {i}: {sa.iloc[i]!r} committed, {sb.iloc[i]!r} now)")
    return diffs


def _read_csv(source) -> pd.DataFrame:
    try:
        return pd.read_csv(source)
    except pd.errors.EmptyDataError:  # an empty file: an empty table
        return pd.DataFrame()


def _git(repo: Path, *args: str) -> str:
    res = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if res.returncode:
        raise ValueError(f"git {' '.join(args)} failed in {repo}: {res.stderr.strip()}")
    return res.stdout


def _fingerprint_of(text: str | None) -> dict | None:
    if not text:
        return None
    try:
        return json.loads(text).get("fingerprint")
    except ValueError:
        return None


@dataclass(frozen=True)
class Comparison:
    failures: tuple[str, ...]  # real mismatches: make compare fails
    flips: tuple[str, ...]  # verdicts that changed across machines with an interval touching its threshold
    notes: tuple[str, ...]  # what was compared, skipped or differs harmlessly

    @property
    def ok(self) -> bool:
        return not self.failures


def compare(profile: str, repo=None, ref: str = "HEAD", tolerance: Tolerance = Tolerance(),
            fingerprint=None) -> Comparison:
    """Compare `results/<profile>/` in `repo`'s working tree (a fresh run) with its version at `ref`: every
    committed CSV within `tolerance`, every claim's final verdict equal. A folder whose fresh pipeline.json
    names another machine fingerprint than the committed one is compared at the looser tolerance, and a claim
    verdict that changed there is a flip (reported, not failed) when either run's interval touches the
    threshold. `fingerprint`: this machine's (a dict, or a function returning it, called only where a fresh
    folder records none)."""
    from resnas.report import PROFILE_NAME

    if not PROFILE_NAME.fullmatch(profile):
        raise ValueError(f"profile={profile!r}; allowed: letters, digits, '_' and '-'")
    repo = Path(repo) if repo is not None else Path(__file__).resolve().parents[2]
    base = f"results/{profile}/"
    committed = [p for p in _git(repo, "ls-tree", "-r", "--name-only", ref, "--", base).splitlines() if p]
    if not committed:
        raise ValueError(f"nothing is committed under {base} at {ref}: commit a run's results first")
    failures, flips, notes = [], [], []

    def show(path: str) -> str | None:
        res = subprocess.run(["git", "-C", str(repo), "show", f"{ref}:{path}"], capture_output=True, text=True)
        return res.stdout if res.returncode == 0 else None

    same: dict[str, bool] = {}  # folder -> same machine fingerprint as the committed run

    def same_machine(folder: str) -> bool:
        if folder not in same:
            old = _fingerprint_of(show(f"{base}{folder}/pipeline.json"))
            fresh_file = repo / base / folder / "pipeline.json"
            new = _fingerprint_of(fresh_file.read_text()) if fresh_file.exists() else None
            new = new or (fingerprint() if callable(fingerprint) else fingerprint)
            same[folder] = old is not None and new is not None and old == new
            if not same[folder]:
                why = "the committed run records no fingerprint" if old is None else (
                    "the fresh run records no fingerprint" if new is None else
                    "fingerprints differ: " + ", ".join(f"{k} {old.get(k)!r} -> {new.get(k)!r}"
                                                        for k in sorted(set(old) | set(new))
                                                        if old.get(k) != new.get(k)))
                notes.append(f"{folder}/: another machine ({why}); looser tolerance, verdict flips allowed")
        return same[folder]

    checked = 0
    for path in committed:
        if not path.endswith(".csv"):
            continue
        rel = path[len(base):]
        fresh = repo / path
        if not fresh.exists():
            failures.append(f"{rel}: committed but not in the fresh run")
            continue
        folder = rel.split("/")[0] if "/" in rel else None
        old, new = _read_csv(io.StringIO(show(path) or "")), _read_csv(fresh)
        if folder is None:  # the profile's ledger: each row has its own folder
            machine = all(same_machine(f) for f in set(old.get("folder", pd.Series(dtype=str))))
        else:
            machine = same_machine(folder)
        for d in compare_tables(old, new, *tolerance.of(machine)):
            failures.append(f"{rel}: {d}")
        checked += 1
    fresh_csv = {str(p.relative_to(repo)) for p in (repo / base).glob("**/*.csv")
                 if not any(part.endswith(".failed") or part.startswith(".") or part == "store"
                            for part in p.relative_to(repo / base).parts[:-1])}
    for extra in sorted(fresh_csv - set(committed)):
        notes.append(f"{extra[len(base):]}: new in the fresh run (not committed; commit the refreshed results)")
    _compare_verdicts(show(f"{base}claims.csv"), repo / base / "claims.csv", same_machine, failures, flips, notes)
    notes.insert(0, f"compared {checked} committed tables of results/{profile}/ at {ref} with the working tree")
    return Comparison(tuple(failures), tuple(flips), tuple(notes))


def _compare_verdicts(old_text, fresh: Path, same_machine, failures, flips, notes) -> None:
    if old_text is None:
        notes.append("no claims ledger committed: verdicts not compared")
        return
    if not fresh.exists():
        failures.append("claims.csv: the committed ledger is missing from the fresh run")
        return
    old = pd.read_csv(io.StringIO(old_text)).set_index("id")
    new = pd.read_csv(fresh).set_index("id")
    for cid in sorted(set(old.index) - set(new.index)):
        failures.append(f"claim {cid}: committed, missing from the fresh ledger")
    for cid in sorted(set(new.index) - set(old.index)):
        failures.append(f"claim {cid}: new in the fresh ledger (commit the refreshed results)")
    for cid in sorted(set(old.index) & set(new.index)):
        a, b = old.loc[cid], new.loc[cid]
        if a["final_verdict"] == b["final_verdict"]:
            continue
        what = (f"claim {cid}: {a['final_verdict']} committed, {b['final_verdict']} now "
                f"(intervals [{a['low']:.3g}, {a['high']:.3g}] -> [{b['low']:.3g}, {b['high']:.3g}])")
        if not same_machine(str(b.get("folder", a.get("folder")))) and (_threshold_touched(a) or
                                                                        _threshold_touched(b)):
            flips.append(what + ": a flip on another machine, the interval touches the threshold")
        else:
            failures.append(what)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m resnas.claims", description="The claims ledger.")
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compare", help="a fresh run of results/<profile>/ against the committed one")
    c.add_argument("--profile", default="default")
    c.add_argument("--ref", default="HEAD", help="the commit holding the results to compare with")
    c.add_argument("--repo", default=None, help="repository root (default: this checkout)")
    t = Tolerance()
    for name in ("rtol", "atol", "other_rtol", "other_atol"):
        c.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(t, name))
    g = sub.add_parser("gather", help="write results/<profile>/claims.csv and CLAIMS.md")
    g.add_argument("--profile", default="default")
    args = ap.parse_args(argv)
    try:
        from resnas.report import profile_results

        if args.command == "gather":
            print(f"wrote {gather(profile_results(args.profile))}")
            return 0
        tol = Tolerance(args.rtol, args.atol, args.other_rtol, args.other_atol)
        res = compare(args.profile, args.repo, args.ref, tol, machine_fingerprint)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for line in res.notes:
        print(line)
    for line in res.flips:
        print(f"FLIP {line}")
    for line in res.failures:
        print(f"DIFFERS {line}")
    print(f"{'ok' if res.ok else 'MISMATCH'}: {len(res.failures)} differences, {len(res.flips)} flips "
          f"(tolerance: rtol={tol.rtol:g}, atol={tol.atol:g} on the same machine; rtol={tol.other_rtol:g}, "
          f"atol={tol.other_atol:g} on another; timing columns ignored)")
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
