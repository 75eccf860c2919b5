"""resnas.claims: verdicts on synthetic runs with a known effect, the power estimate against simulation,
equivalence and non-inferiority, Holm across a ledger, the ledger at the README's top, `make compare`, and every
claim's quote against the paper's text."""
from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from resnas import claims
from resnas.claims import Claim, decide, decide_correlation, decide_estimate, gather, ledger, record
from resnas.report import Output, write_readme

ROOT = Path(__file__).resolve().parents[1]
PAPERS = ROOT.parent / "shared" / "papers"  # ../shared/papers beside the clone
R = 30  # bootstrap resamples: the interval is shown, the rank test decides, so few keep the simulations fast


def claim(kind="greater", null=0.0, margin=0.0, id="era.synthetic", inferred=False) -> Claim:
    return Claim(id, "ERA", "era-thesis.txt:439", "q", "a synthetic claim", "", kind, "points", null=null,
                 margin=margin, inferred=inferred)


def standardised(rng, n, mean, sd) -> np.ndarray:
    """n values with exactly this mean and sample sd (so the power estimate sees the true effect)."""
    z = rng.normal(size=n)
    return mean + sd * (z - z.mean()) / z.std(ddof=1)


# ---------------------------------------------------------------------------------------------- verdicts

def test_real_effect_holds_no_effect_rarely_opposite_contradicted():
    rng = np.random.default_rng(1)
    c, draws = claim(), 100
    real = [decide(c, rng.normal(1.0, 1, 30), rng.normal(0, 1, 30), paired=True, n_resamples=R)["verdict"]
            for _ in range(draws)]
    assert real.count("holds") >= 0.9 * draws
    opposite = [decide(c, rng.normal(-1.0, 1, 30), rng.normal(0, 1, 30), n_resamples=R)["verdict"]
                for _ in range(draws)]  # two independent samples, Mann-Whitney
    assert opposite.count("contradicted") >= 0.9 * draws and "holds" not in opposite
    # no effect: ledgers of five null claims; after Holm a row holds in <= 5% of draws, a ledger rarely
    rows_holding = ledgers_holding = 0
    for i in range(draws):
        rows = [decide(claim(id=f"era.null{k}"), rng.normal(0, 1, 12), n_resamples=R) for k in range(5)]
        final = ledger(pd.DataFrame(rows))["final_verdict"]
        rows_holding += int((final == "holds").sum())
        ledgers_holding += int((final == "holds").any())
    assert rows_holding <= 0.05 * 5 * draws
    assert ledgers_holding <= 0.05 * draws


def test_less_kind_and_correlation_threshold():
    rng = np.random.default_rng(2)
    row = decide(claim("less"), rng.normal(-1, 1, 20), n_resamples=R)
    assert row["verdict"] == "holds" and row["high"] < 0 < row["p_contradicts"]
    x = rng.normal(size=60)
    strong = decide_correlation(claim(null=0.5), x, x + rng.normal(0, 0.3, 60), n_resamples=R)
    assert strong["verdict"] == "holds" and strong["low"] > 0.5 and strong["test"].startswith("Spearman")
    weak = decide_correlation(claim(null=0.5), x, rng.normal(size=60), method="kendall", n_resamples=R)
    assert weak["verdict"] == "contradicted"  # no correlation: shown to rank worse than 0.5
    unrelated = decide_correlation(claim("equivalent", margin=0.3), x, rng.normal(size=60), n_resamples=R)
    assert unrelated["verdict"] == "inconclusive" and unrelated["runs_needed"] > 60  # |r| < 0.3 needs more pairs
    wrong_side = decide(claim(), standardised(rng, 4, -0.5, 1), n_resamples=R)
    assert wrong_side["verdict"] == "inconclusive" and "to contradict" in wrong_side["note"]


def _power(n, effect, two_sample, rng, draws=600) -> float:
    """Simulated power of the row's own rank test at n per arm (vectorised over draws)."""
    if two_sample:
        a, b = rng.normal(effect, 1, (draws, n)), rng.normal(0, 1, (draws, n))
        p = stats.mannwhitneyu(a, b, alternative="greater", axis=1).pvalue
    else:
        p = stats.wilcoxon(rng.normal(effect, 1, (draws, n)), alternative="greater", axis=1,
                           zero_method="zsplit").pvalue
    return float(np.mean(p < claims.ALPHA))


def _simulated_n(effect, two_sample, rng) -> int:
    lo, hi = 2, 4
    while _power(hi, effect, two_sample, rng) < 0.8:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if _power(mid, effect, two_sample, rng) < 0.8 else (lo, mid)
    return hi


@pytest.mark.parametrize("effect,two_sample", [(0.5, False), (0.9, False), (0.8, True)])
def test_runs_needed_within_factor_1_5_of_simulation(effect, two_sample):
    rng = np.random.default_rng(3)
    c = claim()
    if two_sample:  # a small pilot (inconclusive) with exactly this effect and spread
        row = decide(c, standardised(rng, 6, effect, 1), standardised(rng, 6, 0, 1), n_resamples=R)
    else:
        row = decide(c, standardised(rng, 5, effect, 1), n_resamples=R)
    assert row["verdict"] == "inconclusive"
    simulated = _simulated_n(effect, two_sample, rng)
    assert simulated / 1.5 <= row["runs_needed"] <= simulated * 1.5, (row["runs_needed"], simulated)


def test_runs_needed_nan_without_effect_or_spread():
    row = decide(claim(), [0.5, -0.5, 0.25, -0.25], n_resamples=R)
    assert row["verdict"] == "inconclusive" and math.isnan(row["runs_needed"]) and "no effect observed" in row["note"]
    flat = decide(claim(), [1.0, 1.0, 1.0])  # exact Wilcoxon: p = 1/8 at best with three runs
    assert flat["verdict"] == "inconclusive" and "interval is a point" in flat["note"]
    assert math.isnan(flat["runs_needed"]) and flat["low"] == flat["high"] == 1.0


def test_runs_without_spread_are_still_tested():
    """Eight seeds that all differ by the same amount are strong evidence (p = 1/256), not 'no test possible'."""
    assert decide(claim(), [4.0] * 8)["verdict"] == "holds"
    assert decide(claim(), [-4.0] * 8)["verdict"] == "contradicted"
    assert decide(claim(), [3.0] * 8, [1.0] * 8, paired=True)["verdict"] == "holds"
    assert decide(claim(), [0.0] * 8)["verdict"] == "inconclusive"


# ---------------------------------------------------------------------------------------------- margins

def test_equivalence_inside_margin_holds_twice_the_margin_does_not():
    rng = np.random.default_rng(4)
    eq = claim("equivalent", margin=0.5)
    base = rng.normal(10, 1, 30)
    same = decide(eq, base + rng.normal(0, 0.2, 30), base, paired=True, n_resamples=R)
    assert same["verdict"] == "holds" and -0.5 < same["low"] < same["high"] < 0.5
    apart = decide(eq, base + 1.0 + rng.normal(0, 0.2, 30), base, paired=True, n_resamples=R)
    assert apart["verdict"] == "contradicted" and apart["p_holds"] > 0.5
    two = decide(eq, rng.normal(0, 0.2, 30), rng.normal(0, 0.2, 30), n_resamples=R)  # Mann-Whitney TOST
    assert two["verdict"] == "holds"
    far = decide(eq, rng.normal(1.0, 0.2, 30), rng.normal(0, 0.2, 30), n_resamples=R)
    assert far["verdict"] != "holds"
    # inside the margin but too few runs: inconclusive, with the runs that TOST would need
    few = decide(eq, standardised(rng, 5, 0.1, 0.4), n_resamples=R)
    assert few["verdict"] == "inconclusive" and few["runs_needed"] > 5


def test_noninferiority():
    rng = np.random.default_rng(5)
    ni = claim("noninferior", margin=1.0)
    base = rng.normal(60, 2, 25)
    slightly_worse = decide(ni, base - 0.2 + rng.normal(0, 0.3, 25), base, paired=True, n_resamples=R)
    assert slightly_worse["verdict"] == "holds"  # -0.2 is within the 1-point margin
    much_worse = decide(ni, base - 2.0 + rng.normal(0, 0.3, 25), base, paired=True, n_resamples=R)
    assert much_worse["verdict"] == "contradicted"
    # the same data as a plain "greater" claim cannot hold: the margin is what makes it decidable
    assert decide(claim(), base - 0.2 + rng.normal(0, 0.3, 25), base, paired=True,
                  n_resamples=R)["verdict"] != "holds"


# ---------------------------------------------------------------------------------------------- bad input

def test_bad_input_raises_naming_the_parameter():
    with pytest.raises(ValueError, match="kind='bigger'.*allowed: greater, less, equivalent, noninferior"):
        claim("bigger")
    with pytest.raises(ValueError, match="margin=0.0 for an equivalence claim; allowed: > 0"):
        claim("equivalent")
    with pytest.raises(ValueError, match="margin=-1"):
        claim("noninferior", margin=-1)
    with pytest.raises(ValueError, match="protocol="):
        Claim("era.x", "ERA", "era-thesis.txt:1", "q", "s", "", "greater", "u", protocol="proxy-ish")
    with pytest.raises(ValueError, match="where="):
        Claim("era.x", "ERA", "thesis line 3", "q", "s", "", "greater", "u")
    with pytest.raises(ValueError, match="paper="):
        Claim("era.x", "Era", "era-thesis.txt:1", "q", "s", "", "greater", "u")
    with pytest.raises(ValueError, match=r"len\(a\)=3, len\(b\)=2"):
        decide(claim(), [1, 2, 3], [1, 2], paired=True)
    with pytest.raises(ValueError, match="paired=True needs b"):
        decide(claim(), [1, 2, 3], paired=True)
    with pytest.raises(ValueError, match="method='pearson'; allowed: spearman, kendall"):
        decide_correlation(claim(), [1, 2, 3], [1, 2, 3], method="pearson")
    with pytest.raises(ValueError, match="p_holds=1.5"):
        decide_estimate(claim(), 1, 0, 2, 5, test="binomial", p_holds=1.5)
    with pytest.raises(ValueError, match="rows is empty"):
        record(None, [])


def test_degenerate_data_gives_inconclusive_with_a_reason():
    one = decide(claim(), [3.0], [1.0])
    assert one["verdict"] == "inconclusive" and "n=1 < 2" in one["note"]
    nan = decide(claim(), [1.0, np.nan, 2.0], [0.0, 0.0, np.nan], paired=True)
    assert nan["n"] == 1 and "2 NaN run(s) dropped" in nan["note"] and nan["verdict"] == "inconclusive"
    const = decide_correlation(claim(null=0.5), [1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 1, 1])
    assert const["verdict"] == "inconclusive" and "undefined" in const["note"]
    few = decide_correlation(claim(null=0.5), [1, 2, 3], [1, 2, 3])
    assert few["verdict"] == "inconclusive" and "at least 4" in few["note"]
    est = decide_estimate(claim(), 0.3, 0.1, 0.5, 40, test="binomial", p_holds=0.01, p_contradicts=0.99)
    assert est["verdict"] == "holds"
    assert decide_estimate(claim(), 0.3, np.nan, np.nan, 1, test="none", p_holds=np.nan)["verdict"] == "inconclusive"


# ---------------------------------------------------------------------------------------------- the ledger

def test_holm_matches_the_definition_and_changes_a_borderline_verdict():
    np.testing.assert_allclose(claims.holm([0.01, 0.04, np.nan, 0.03]), [0.03, 0.06, np.nan, 0.06])
    rows = [decide_estimate(claim(id=f"era.b{i}"), 1, 0.1, 2, 10, test="t", p_holds=p, p_contradicts=1 - p)
            for i, p in enumerate([0.02, 0.015])]
    assert [r["verdict"] for r in rows] == ["holds", "holds"]  # each alone at 2.5%
    df = ledger(pd.DataFrame(rows))
    assert list(df["final_verdict"]) == ["inconclusive", "inconclusive"]  # 2 x 0.015 = 0.03 > 0.025
    assert list(ledger(pd.DataFrame(rows[:1]))["final_verdict"]) == ["holds"]  # alone it still holds


def _profile(tmp_path, rng, effects=(1.0, 0.0)) -> Path:
    root = tmp_path / "results" / "default"
    for folder, effect, inferred in (("era_search", effects[0], False), ("genas", effects[1], True)):
        out = Output(root / folder, folder)
        cid = f"{'era' if folder == 'era_search' else 'genas'}.{folder}_claim"
        out.table(pd.DataFrame({"x": [1.0, 2.0], "train_seconds": [3.0, 4.0]}), "table", "a table")
        record(out, [decide(claim(id=cid, inferred=inferred), standardised(rng, 12, effect, 1), n_resamples=R,
                            seconds_per_run=120)])
        (out.path / "pipeline.json").write_text(json.dumps({"fingerprint": {"cpu": "A", "threads": 1}}))
    return root


def test_gather_writes_the_ledger_and_the_readme_opens_with_it(tmp_path):
    rng = np.random.default_rng(6)
    root = _profile(tmp_path, rng, effects=(1.0, 0.3))
    failed = root / "genas.failed"
    failed.mkdir()
    (failed / "claims.csv").write_text("not, a ledger\n")  # a failed run's file is never gathered
    path = gather(root)
    text = path.read_text()
    assert "era.era_search_claim" in text and "*(inferred" in text and "Holm" in text
    df = pd.read_csv(root / "claims.csv")
    assert list(df["folder"]) == ["era_search", "genas"] and list(df["final_verdict"]) == ["holds", "inconclusive"]
    assert "h)" in text  # the inconclusive row's compute: runs needed x 120 s, in hours
    readme = write_readme(root, ["era_search", "genas"], "header",
                          {"era_search": {"status": "ok", "seconds": 5.0}}).read_text()
    assert readme.index("## Claims ledger") < readme.index("Wall time of each notebook") < readme.index("## era_search")
    assert "**holds**:" in readme  # the legend
    # a profile without claims has no ledger section, and a stale ledger goes
    for f in root.glob("*/claims.csv"):
        f.unlink()
    assert gather(root) is None and not (root / "CLAIMS.md").exists()
    assert "Claims ledger" not in write_readme(root, ["era_search"], "").read_text()


# ---------------------------------------------------------------------------------------------- make compare

def _git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def _committed_profile(tmp_path, rng, effects=(1.0, 0.0), edit_ledger=None) -> Path:
    root = _profile(tmp_path, rng, effects)
    gather(root)
    if edit_ledger:  # shape the committed ledger (a borderline row)
        df = pd.read_csv(root / "claims.csv")
        edit_ledger(df)
        df.to_csv(root / "claims.csv", index=False)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "results")
    return root


def test_compare_passes_unchanged_and_ignores_timings(tmp_path):
    root = _committed_profile(tmp_path, np.random.default_rng(7))
    assert claims.compare("default", tmp_path).ok
    t = pd.read_csv(root / "era_search" / "table.csv")
    t["train_seconds"] *= 3  # timings measure the machine, not the method
    t["x"] += 1e-9  # a CSV round trip's noise
    t.to_csv(root / "era_search" / "table.csv", index=False)
    res = claims.compare("default", tmp_path)
    assert res.ok, res.failures
    assert claims.main(["compare", "--profile", "default", "--repo", str(tmp_path)]) == 0


def test_compare_tables_ignores_run_identifiers_but_not_other_text():
    """A run's id is new every run (a second fresh default run differed only in the quickstart's run id column):
    a column named for it is not compared; any other text column is."""
    old = pd.DataFrame({"model": ["a", "b"], "trained_by_run_id": ["028d83f9619d", "028d83f9619d"]})
    fresh = old.assign(trained_by_run_id="2ac132408744")
    assert claims.compare_tables(old, fresh, 1e-6, 1e-9) == []
    renamed = old.rename(columns={"trained_by_run_id": "trained_by"})
    diffs = claims.compare_tables(renamed, fresh.rename(columns={"trained_by_run_id": "trained_by"}), 1e-6, 1e-9)
    assert len(diffs) == 1 and "trained_by" in diffs[0]


def test_compare_catches_a_changed_table_a_missing_one_and_a_changed_verdict(tmp_path, capsys):
    root = _committed_profile(tmp_path, np.random.default_rng(8))
    t = pd.read_csv(root / "era_search" / "table.csv")
    t.loc[1, "x"] = 2.5
    t.to_csv(root / "era_search" / "table.csv", index=False)
    (root / "genas" / "table.csv").unlink()
    ledger_df = pd.read_csv(root / "claims.csv")
    ledger_df.loc[0, "final_verdict"] = "inconclusive"
    ledger_df.to_csv(root / "claims.csv", index=False)
    res = claims.compare("default", tmp_path)
    text = "\n".join(res.failures)
    assert "era_search/table.csv: column 'x'" in text and "2.5" in text
    assert "genas/table.csv: committed but not in the fresh run" in text
    assert "claim era.era_search_claim: holds committed, inconclusive now" in text and not res.flips
    assert claims.main(["compare", "--profile", "default", "--repo", str(tmp_path)]) == 1
    assert "DIFFERS" in capsys.readouterr().out


def test_compare_on_another_machine_reports_a_touching_verdict_as_a_flip(tmp_path):
    def borderline(df):  # the committed genas row: inconclusive, its interval just reaching below 0
        df.loc[1, ["low", "high", "final_verdict"]] = [-0.004, 0.6, "inconclusive"]

    root = _committed_profile(tmp_path, np.random.default_rng(9), edit_ledger=borderline)
    ledger_df = pd.read_csv(root / "claims.csv")
    ledger_df.loc[1, ["low", "final_verdict"]] = [0.003, "holds"]  # the fresh run: just above 0, holds
    ledger_df.to_csv(root / "claims.csv", index=False)
    res_same = claims.compare("default", tmp_path)
    assert not res_same.ok and any("claim genas.genas_claim: inconclusive committed, holds now" in f
                                   for f in res_same.failures)
    (root / "genas" / "pipeline.json").write_text(json.dumps({"fingerprint": {"cpu": "B", "threads": 1}}))
    res = claims.compare("default", tmp_path)
    assert res.ok, res.failures
    assert len(res.flips) == 1 and "genas.genas_claim" in res.flips[0]
    assert any("fingerprints differ: cpu 'A' -> 'B'" in n for n in res.notes)
    # another machine, but neither interval comes near the threshold: a real mismatch, not a flip
    def far(df):
        df.loc[1, ["low", "high", "final_verdict"]] = [0.2, 0.6, "holds"]

    root2 = _committed_profile(tmp_path / "far", np.random.default_rng(9), edit_ledger=far)
    moved = pd.read_csv(root2 / "claims.csv")
    moved.loc[1, "final_verdict"] = "inconclusive"
    moved.to_csv(root2 / "claims.csv", index=False)
    (root2 / "genas" / "pipeline.json").write_text(json.dumps({"fingerprint": {"cpu": "B", "threads": 1}}))
    res_far = claims.compare("default", tmp_path / "far")
    assert not res_far.ok and not res_far.flips


def test_compare_without_committed_results_says_so(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "f").write_text("x")
    _git(tmp_path, "add", "f")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "x")
    with pytest.raises(ValueError, match="nothing is committed under results/default/"):
        claims.compare("default", tmp_path)
    with pytest.raises(ValueError, match="profile='../x'"):
        claims.compare("../x", tmp_path)


# ---------------------------------------------------------------------------------------------- the papers

def _normalised(text: str) -> str:
    return " ".join(text.split()).lower()


def test_every_claim_quote_is_on_its_lines():
    if not PAPERS.is_dir():
        pytest.skip(f"the paper texts are not here ({PAPERS} is absent): quotes not checked")
    found = claims.all_claims()
    if not found:
        pytest.skip("no experiment module defines CLAIMS yet")
    wrong = []
    for cid, c in found.items():
        file, first, last = c.lines()
        path = PAPERS / file
        if not path.exists():
            wrong.append(f"{cid}: {file} is not in {PAPERS}")
            continue
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        if not 1 <= first <= last <= len(lines):
            wrong.append(f"{cid}: lines {first}-{last} outside {file} ({len(lines)} lines)")
            continue
        if _normalised(c.quote) not in _normalised(" ".join(lines[first - 1:last])):
            wrong.append(f"{cid}: quote {c.quote!r} is not on {c.where}")
    assert not wrong, "\n".join(wrong)


def _spellings(number: str) -> list[str]:
    """A decimal as a paper may print it: as is, or as a fraction where we quote a percentage (4.57 <- 0.0457)
    and the reverse; trailing zeros dropped (the pattern allows them back)."""
    places = len(number.split(".")[1])
    values = [(number, places), (f"{float(number) / 100:.{places + 2}f}", places + 2),
              *([(f"{float(number) * 100:.{places - 2}f}", places - 2)] if places > 2 else [])]
    return [v.rstrip("0").rstrip(".") if "." in v else v for v, _ in values]


def test_every_decimal_of_a_paper_figure_is_in_the_paper():
    """A row's paper figure names the paper's numbers: each decimal in it (6.7, 0.71) occurs in the paper."""
    if not PAPERS.is_dir():
        pytest.skip(f"the paper texts are not here ({PAPERS} is absent): figures not checked")
    wrong = []
    for cid, c in claims.all_claims().items():
        path = PAPERS / c.lines()[0]
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for number in re.findall(r"\d+\.\d+", c.paper_figure):
            if not any(re.search(rf"(?<![\d.]){re.escape(v)}0*(?!\d)", text) for v in _spellings(number)):
                wrong.append(f"{cid}: {number} (in {c.paper_figure!r}) is not in {path.name}")
    assert not wrong, "\n".join(wrong)


# ---------------------------------------------------------------------------------------------- the pipeline

def test_pipeline_records_the_fingerprint_and_readme_writes_the_ledger(tmp_path, monkeypatch):
    """A fake notebook that records one claim, run through pipeline.run_notebook (no kernel): its pipeline.json
    names the machine, and `make readme`'s path writes CLAIMS.md and a README that opens with the ledger."""
    from resnas import pipeline
    from resnas.experiments import EXPERIMENTS, Experiment

    params, notebooks = tmp_path / "params", tmp_path / "notebooks"
    (params / "ci").mkdir(parents=True)
    notebooks.mkdir()
    (params / "ci" / "fake.yaml").write_text("datasets: [digits]\nepochs: 2\n")
    (notebooks / "fake.py").write_text("# a fake notebook: run by `execute` below\n")
    monkeypatch.setitem(EXPERIMENTS, "fake", Experiment("fake", "quickstart", "fake", "A fake experiment"))

    def execute(source, executed, parameters, log_output):
        out = Output(parameters["out_dir"], "A fake experiment")
        record(out, [decide(claim(), standardised(np.random.default_rng(0), 12, 1.0, 1), n_resamples=R)])
        executed.write_text("{}")

    results = tmp_path / "results" / "ci"
    pipeline.run_notebook("fake", "ci", results=results, params_root=params, notebooks_dir=notebooks,
                          execute=execute, say=lambda *_: None)
    assert json.loads((results / "fake" / "pipeline.json").read_text())["fingerprint"] == claims.machine_fingerprint()
    readme = pipeline.readme("ci", results).read_text()
    assert (results / "CLAIMS.md").exists() and "era.synthetic" in (results / "CLAIMS.md").read_text()
    assert readme.index("## Claims ledger") < readme.index("Wall time of each notebook") < readme.index("## A fake")


def test_a_correlation_of_few_networks_still_gets_an_interval():
    """At n = 5 many bootstrap resamples repeat one network, so their correlation is undefined: the row falls
    back to the Fisher-z interval instead of showing none."""
    row = decide_correlation(claim(null=0.5), [1, 1, 2, 3, 4], [1, 2, 2, 3, 5], n_resamples=200)  # tied accuracies
    assert np.isfinite(row["low"]) and np.isfinite(row["high"]) and row["low"] < row["estimate"] < row["high"] <= 1


def test_the_ledger_names_the_claims_no_notebook_recorded(tmp_path):
    """A reader must see which claims a profile never decided (a notebook not run, or failed), not only the rows
    that exist."""
    from resnas.claims import all_claims, unrecorded

    known = sorted(all_claims())
    assert len(known) >= 12 and unrecorded(known) == []
    out = Output(tmp_path / "era_search", "t")
    record(out, [decide(all_claims()[known[0]], [1.0, 2.0, 3.0], n_resamples=R)])
    text = gather(tmp_path).read_text()
    assert "Not decided in this profile's runs" in text and f"`{known[1]}`" in text and f"`{known[0]}`," not in text


def test_two_seeds_get_an_honest_interval_not_a_bootstrap_of_two_values():
    """A bootstrap of two paired differences (2.05 and 3.25) can only return means between them, an interval
    that claims far more certainty than two seeds hold; the t interval is wide (t(0.975, 1) = 12.7)."""
    row = decide(claim(), [2.05, 3.25], n_resamples=R)
    assert row["low"] < 0 < row["high"] and row["high"] - row["low"] > 10 and "Student t" in row["note"]
    many = decide(claim(), np.linspace(1, 3, 12), n_resamples=R)
    assert "Student t" not in many["note"] and 1.5 < many["low"] < 2 < many["high"] < 2.5


def test_runs_needed_in_a_ledger_grow_with_the_undecided_claims_holm_tests_them_against():
    """Alone a row needs n runs at 2.5%; among k undecided rows Holm tests it at 2.5% / k, which needs more."""
    from resnas import claims as C

    def frame(n_rows, decided):
        rows = []
        for i in range(n_rows):
            done = i < decided
            rows.append({c: None for c in C.COLUMNS} | {
                "id": f"x.{i}", "p_holds": 1e-9 if done else 0.3, "p_contradicts": 1.0, "runs_needed": 20.0,
                "verdict": "holds" if done else "inconclusive"})
        return pd.DataFrame(rows)

    alone = C.ledger(frame(1, 0))
    assert alone.runs_needed_holm.iloc[0] == 20.0  # one claim: Holm's level is the plain level
    many = C.ledger(frame(10, 0))
    assert (many.runs_needed_holm > 20.0).all()
    z = C.stats.norm.ppf
    expected = math.ceil(20 * ((z(1 - C.ALPHA / 10) + z(C.POWER)) / (z(1 - C.ALPHA) + z(C.POWER))) ** 2)
    assert many.runs_needed_holm.iloc[0] == expected
    some_decided = C.ledger(frame(10, 6))  # 4 undecided: a lower bar than 10
    undecided = some_decided[some_decided.final_verdict == "inconclusive"]
    assert len(undecided) == 4 and (undecided.runs_needed_holm < many.runs_needed_holm.iloc[0]).all()
    assert (some_decided[some_decided.final_verdict == "holds"].runs_needed_holm == 20.0).all()
