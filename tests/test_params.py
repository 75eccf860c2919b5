from dataclasses import dataclass

import pytest

from resnas.params import ParamError, load_file, param, validate


@dataclass(frozen=True)
class P:
    dataset: str = param("digits", choices=("digits", "fashion_mnist"))
    epochs: int = param(2, ge=1, le=100)
    lr: float = param(0.1, ge=0.0)
    seeds: list[int] = param([0], ge=0)
    cap: int | None = param(None, ge=1)
    plot: bool = param(True)


def test_valid_values_are_converted():
    p = validate(P, {"epochs": 5, "lr": 1, "seeds": [1, 2], "cap": None})
    assert p.epochs == 5 and p.lr == 1.0 and isinstance(p.lr, float) and p.seeds == (1, 2)


@pytest.mark.parametrize("values, message", [
    ({"epoch": 3}, "unknown key 'epoch'; allowed: dataset, epochs"),
    ({"epochs": "3"}, "epochs='3' has the wrong type; allowed: an integer"),
    ({"epochs": 2.5}, "epochs=2.5 has the wrong type"),
    ({"plot": 1}, "plot=1 has the wrong type; allowed: true or false"),
    ({"epochs": 0}, "epochs=0 is out of range; allowed: 1 to 100"),
    ({"seeds": [1, -1]}, "seeds=-1 is out of range"),
    ({"cap": "x"}, "cap='x' has the wrong type"),
    ({"dataset": "cifar11"}, "dataset='cifar11' is not allowed; allowed: digits, fashion_mnist"),
])
def test_faults_give_one_line_naming_the_key(values, message):
    with pytest.raises(ParamError) as e:
        validate(P, values, where="x.yaml")
    text = str(e.value)
    assert message in text and text.startswith("x.yaml: ") and "\n" not in text


def test_file_errors(tmp_path):
    with pytest.raises(ParamError, match="no such parameters file"):
        load_file(P, tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ParamError, match="must be a mapping"):
        load_file(P, bad)
    good = tmp_path / "good.yaml"
    good.write_text("epochs: 7\n")
    assert load_file(P, good, overrides={"lr": 0.5}) == P(epochs=7, lr=0.5)


def test_every_profile_file_in_the_repository_validates(root):
    from resnas.experiments import EXPERIMENTS
    from resnas.params import PROFILES, load_profile

    for nb, exp in EXPERIMENTS.items():
        for profile in PROFILES:
            load_profile(exp.params_class(), nb, profile, root=root / "params")


@pytest.mark.parametrize("yaml_text, message", [
    ("epochz: 2\n", "unknown key 'epochz'"),
    ("epochs: two\n", "epochs='two' has the wrong type; allowed: an integer"),
    ("epochs: 0\n", "epochs=0 is out of range; allowed: 1 to 500"),
    ("datasets: [digits, cifar11]\n", "datasets='cifar11' is not allowed; allowed: digits, fashion_mnist"),
    ("# emptied by mistake\n", "is empty; write at least one key, or `{}` to take every default"),
    ("epochs: 2\nlr: 0.1\nepochs: 3\n", "key 'epochs' appears twice, on lines 1 and 3"),
    ("epochs: 2\n  lr: 0.1\n", "not valid YAML at line 2, column 5"),
    ("lr: .nan\n", "lr=nan is not a number"),
    ("models: {m: {block: weird, depths: [0, 1, 1, 1], filters: 8, update: 2, group: 8}}\n",
     "models['m'].block='weird' is not allowed in this space; allowed: basic, bottleneck"),
])
def test_pipeline_fails_fast_with_one_line(tmp_path, yaml_text, message):
    import subprocess
    import sys

    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "00_quickstart.yaml").write_text(yaml_text)
    out = subprocess.run([sys.executable, "-m", "resnas.pipeline", "run", "--profile", "ci", "--params-root",
                          str(tmp_path), "00_quickstart"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "00_quickstart.yaml" in lines[0]
    assert "[ci]" not in out.stdout  # nothing started


# ------------------------------------------------------------------------------------ file and YAML faults

@pytest.mark.parametrize("text", ["", "# only a comment\n\n", "null\n"])
def test_an_empty_params_file_is_an_error_not_every_default(tmp_path, text):
    f = tmp_path / "x.yaml"
    f.write_text(text)
    with pytest.raises(ParamError, match=r"x\.yaml: is empty; write at least one key, or `\{\}` to take every"):
        load_file(P, f)


def test_an_explicit_empty_mapping_takes_every_default(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text("{}  # every default, on purpose\n")
    assert load_file(P, f) == P()


def test_a_duplicate_key_names_the_key_and_both_lines(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text("epochs: 2\nlr: 0.1\n\nepochs: 3\n")
    with pytest.raises(ParamError) as e:
        load_file(P, f)
    assert str(e.value) == f"{f}: key 'epochs' appears twice, on lines 1 and 4; keep one"
    f.write_text("lr: 0.1\nmodels:\n  a: {block: basic}\n  a: {block: bottleneck}\n")  # nested mappings too
    with pytest.raises(ParamError, match="key 'a' appears twice, on lines 3 and 4"):
        load_file(P, f)


@pytest.mark.parametrize("text, where", [
    ("epochs: 2\n  lr: 0.1\n", "line 2, column 5: mapping values are not allowed here"),
    ("epochs: 2\nseeds: [0, 1\nlr: 0.1\n", "line 3, column 3: expected ',' or ']'"),
])
def test_a_yaml_syntax_error_keeps_line_and_column(tmp_path, text, where):
    f = tmp_path / "x.yaml"
    f.write_text(text)
    with pytest.raises(ParamError) as e:
        load_file(P, f)
    assert str(e.value).startswith(f"{f}: not valid YAML at {where}") and "\n" not in str(e.value)


def test_exponent_floats_are_numbers_without_changing_pyyamls_own_loader(tmp_path):
    import yaml

    f = tmp_path / "x.yaml"
    f.write_text("lr: 1e-3\n")  # YAML 1.1 (PyYAML) reads a string here; users mean a number
    assert load_file(P, f).lr == 0.001
    assert yaml.safe_load("lr: 1e-3") == {"lr": "1e-3"}  # our resolver did not leak into SafeLoader


# --------------------------------------------------------------------------------------- types and ranges

@dataclass(frozen=True)
class Q:
    ratio: float = param(0.5, gt=0.0, lt=1.0)
    rate: float = param(1.0, ge=0.0, le=10.0)
    limit: float = param(1.0, ge=0.0, allow_inf=True)
    alphas: list[float] = param([0.1], ge=0.0)
    extras: list[int] = param([], min_items=0)


def test_a_float_field_rejects_strings_and_booleans():
    for value in ("0.1", "fast", True):
        with pytest.raises(ParamError, match=f"rate={value!r} has the wrong type; allowed: a number"):
            validate(Q, {"rate": value}, where="x.yaml")
    assert validate(Q, {"rate": 2}).rate == 2.0  # an integer is a number


def test_upper_bounds_are_enforced_at_the_boundary():
    assert validate(Q, {"rate": 10.0}).rate == 10.0 and validate(P, {"epochs": 100}).epochs == 100
    with pytest.raises(ParamError, match=r"x\.yaml: rate=10\.5 is out of range; allowed: 0\.0 to 10\.0"):
        validate(Q, {"rate": 10.5}, where="x.yaml")
    with pytest.raises(ParamError, match="epochs=101 is out of range; allowed: 1 to 100"):
        validate(P, {"epochs": 101}, where="x.yaml")


@pytest.mark.parametrize("value", [0.0, 1.0, -0.2, 1.5])
def test_exclusive_bounds_reject_their_ends(value):
    with pytest.raises(ParamError, match=f"ratio={value!r} is out of range; allowed: > 0.0 and < 1.0"):
        validate(Q, {"ratio": value}, where="x.yaml")
    assert validate(Q, {"ratio": 0.999}).ratio == 0.999


@pytest.mark.parametrize("values, message", [
    ({"lr": float("nan")}, "lr=nan is not a number; allowed: >= 0.0"),
    ({"rate": float("nan")}, "rate=nan is not a number"),  # would pass both bounds: NaN compares False
    ({"alphas": [0.1, float("nan")]}, "alphas=nan is not a number"),
    ({"lr": float("inf")}, "lr=inf is infinite; allowed: a finite number, >= 0.0"),
    ({"limit": float("nan")}, "limit=nan is not a number"),  # allow_inf never allows NaN
])
def test_nan_never_passes_and_inf_only_where_allowed(values, message):
    cls = P if "lr" in values else Q
    with pytest.raises(ParamError) as e:
        validate(cls, values, where="x.yaml")
    assert message in str(e.value)


def test_yaml_nan_and_inf_in_a_file(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text("lr: .nan\n")
    with pytest.raises(ParamError, match=r"x\.yaml: lr=nan is not a number"):
        load_file(P, f)
    assert validate(Q, {"limit": float("inf")}).limit == float("inf")


def test_lists_must_not_be_empty_unless_the_field_says_so():
    with pytest.raises(ParamError, match="x.yaml: seeds is empty; allowed: at least 1 entry"):
        validate(P, {"seeds": []}, where="x.yaml")
    assert validate(Q, {"extras": []}).extras == ()


# ------------------------------------------------------------------------------------ cross-field rules

def _experiment_params(name):
    from resnas.experiments import ectonas, era, fidelity, mo_resnet, quickstart, ranking

    return {"era_search": era.SearchParams, "era_final": era.FinalParams, "fidelity": fidelity.Params,
            "ranking": ranking.Params, "mo_resnet": mo_resnet.Params, "quickstart": quickstart.Params,
            "pooling": ectonas.PoolingParams, "ablation": ectonas.AblationParams}[name]


TINY_ERA = {"dataset": "digits", "filters": [1, 2, 4], "max_depth": 2}  # 576 distinct networks
WEIRD = {"m": {"block": "weird", "depths": [0, 1, 1, 1], "filters": 8, "update": 2, "group": 8}}


@pytest.mark.parametrize("name, values, message", [
    ("era_search", {"val_size": 0}, "val_size=0.0 is out of range; allowed: > 0.0"),
    ("era_search", {"dataset": "digits", "val_size": 5000},
     "val_size=5000 holds out 5000 of the 1442 training images of dataset='digits', leaving none; allowed: a "
     "fraction in (0, 1) or a whole count from 1 to 1441"),
    ("era_search", {"dataset": "digits", "val_size": 1e-4}, "val_size=0.0001 holds out 0 of the 1442"),
    ("era_search", {"val_size": 2.5}, "val_size=2.5 is neither a fraction below 1 nor a whole count"),
    ("fidelity", {"dataset": "cifar10", "val_size": 50000}, "holds out 50000 of the 50000 training images"),
    ("ranking", {"dataset": "eurosat", "val_size": 21600}, "of the 21600 training images of dataset='eurosat'"),
    ("mo_resnet", {"dataset": "adult", "val_size": 40000}, "of the 32561 training images of dataset='adult'"),
    ("era_search", {"epochs": 1, "low_lr_epochs": 50},
     "low_lr_epochs=50 must be below epochs=1 (the last epochs run at lr/10); allowed: 0 to 0"),
    ("ranking", {"epochs": 3, "low_lr_epochs": 3}, "low_lr_epochs=3 must be below epochs=3"),
    ("era_search", {**TINY_ERA, "population": 1000, "budget": 2000},
     "population=1000 exceeds the 576 distinct networks of the space (filters=[1, 2, 4], max_depth=2)"),
    ("era_search", {**TINY_ERA, "population": 6, "budget": 6, "window": 3},
     "population=6 must be below budget=6 so that evolution makes a child; allowed: 2 to 5"),
    ("era_search", {**TINY_ERA, "budget": 6, "population": 3, "local_samples": 3, "local_starts": 4, "window": 3},
     "local_starts=4 must not exceed local_samples=3"),
    ("era_search", {**TINY_ERA, "budget": 6, "population": 3, "local_samples": 6, "local_starts": 1, "window": 3},
     "local_samples=6 must be below budget=6"),
    ("era_search", {"budget": 20, "population": 3, "local_samples": 3, "window": 50},
     "window=50 must not exceed budget=20"),
    ("ranking", {**TINY_ERA, "population": 600}, "population=600 exceeds the 576 distinct networks"),
    ("ranking", {**TINY_ERA, "n_architectures": 577, "population": 5}, "n_architectures=577 exceeds the 576"),
    ("ranking", {"population": 50, "evolution_steps": 50}, "population=50 must be below evolution_steps=50"),
    ("ranking", {"top": 11, "n_score": 10}, "top=11 must not exceed n_score=10"),
    ("fidelity", {"fidelities": [5]}, "fidelities=[5] must be at least two different budgets"),
    ("fidelity", {"fidelities": [5, 5, 10]}, "fidelities=[5, 5, 10] must be at least two different budgets, each once"),
    ("mo_resnet", {"neighbours": 500}, "neighbours=500 exceeds population=20 (T neighbours among N subproblems); "
                                      "allowed: 2 to 20"),
    ("pooling", {"cell": 99}, "cell=99 does not exist: the net has 2 conv cells (channels=[4, 8]); allowed: 0 to 1"),
    ("ablation", {"example_dataset": "imagenet"},
     "example_dataset='imagenet' is not among datasets; allowed: '' (the first), fashion_mnist, digits"),
    ("ablation", {"example_topology": "nope"},
     "example_topology='nope' is not among topologies; allowed: '' (the last), small_cnn, small_ffnn"),
    ("ablation", {"modes": ["baseline"]}, "modes=['baseline'] has no search"),
    ("ablation", {"budget": 10, "warmup_epochs": 10}, "warmup_epochs=10 must be below budget=10"),
    ("ablation", {"budget": float("inf")}, "budget=inf is infinite"),
    ("ablation", {"era_budget": 3, "warmup_epochs": 5}, "era_budget=3 must be 0 (skip the ERA run) or above "
                                                       "warmup_epochs=5"),
    ("quickstart", {"models": WEIRD},
     "models['m'].block='weird' is not allowed in this space; allowed: basic, bottleneck"),
    ("quickstart", {"models": {"m": {"block": "basic", "depths": [0, 1, 1], "filters": 8, "update": 2,
                                     "group": 8}}}, "models['m'].depths=[0, 1, 1] must list the blocks of the four"),
    ("quickstart", {"models": {"m": {"block": "basic"}}}, "must map exactly the keys block, depths, filters"),
    ("quickstart", {"models": {}}, "models is empty"),
    ("era_final", {"seeds": []}, "seeds is empty"),
])
def test_params_cross_field_rules_name_the_keys_and_what_is_allowed(name, values, message):
    with pytest.raises(ParamError) as e:
        validate(_experiment_params(name), values, where="x.yaml")
    text = str(e.value)
    assert message in text and text.startswith("x.yaml: ") and "\n" not in text


@pytest.mark.parametrize("name, values", [
    ("era_search", {"dataset": "digits", "val_size": 1441}),  # a count: the largest that leaves training data
    ("era_search", {"dataset": "fashion_mnist", "val_size": 5000}),
    ("era_search", {**TINY_ERA, "strategies": ["random"], "population": 1000, "budget": 6, "window": 3}),
    ("era_search", {"references": []}),  # no hand-designed networks beside the search
    ("mo_resnet", {"neighbours": 20}),
    ("pooling", {"cell": 1}),
    ("ablation", {"example_dataset": "digits", "example_topology": "small_cnn", "era_budget": 0}),
    ("ablation", {"budget": float(60), "warmup_epochs": 59.5, "era_budget": 60}),
    ("quickstart", {"models": {"m": {"block": "bottleneck", "depths": [1, 1, 1, 1], "filters": 64, "update": 1,
                                     "group": 32}}}),
])
def test_params_cross_field_rules_accept_their_limits(name, values):
    validate(_experiment_params(name), values, where="x.yaml")


def test_train_sizes_cover_every_data_set_and_match_the_digits_loader():
    from resnas.data import DATASETS, _digits
    from resnas.params import TRAIN_SIZES

    assert set(TRAIN_SIZES) == set(DATASETS)
    assert TRAIN_SIZES["digits"] == len(_digits()[1])


# ------------------------------------------------------------------------------- overrides and summaries

def test_parse_overrides_reads_each_value_as_yaml():
    from resnas.params import parse_overrides

    assert parse_overrides(["seeds=[0,1]", "epochs=5", "lr=1e-3", "cap=null", "dataset=digits", "plot=false"]) == {
        "seeds": [0, 1], "epochs": 5, "lr": 0.001, "cap": None, "dataset": "digits", "plot": False}
    assert parse_overrides([]) == {}


@pytest.mark.parametrize("items, message", [
    (["epochs"], "override 'epochs' is malformed; allowed: key=value"),
    (["=5"], "override '=5' is malformed"),
    (["seeds=[0,1"], "override 'seeds=[0,1': not valid YAML at line 1, column 5"),
    (["epochs="], "override 'epochs=' has no value; allowed: key=value (write epochs=null for none)"),
    (["epochs=1", "epochs=2"], "override 'epochs=2': epochs is given twice"),
])
def test_parse_overrides_names_a_malformed_item(items, message):
    from resnas.params import parse_overrides

    with pytest.raises(ParamError) as e:
        parse_overrides(items)
    assert message in str(e.value)


def test_overrides_are_validated_like_the_file_and_named_as_overrides(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text("epochs: 7\n")
    with pytest.raises(ParamError, match=r"x\.yaml \(override\): epochs=0 is out of range; allowed: 1 to 100"):
        load_file(P, f, overrides={"epochs": 0})
    with pytest.raises(ParamError, match=r"x\.yaml \(override\): unknown key 'epochz'"):
        load_file(P, f, overrides={"epochz": 3})
    with pytest.raises(ParamError, match=r"x\.yaml \(override\): lr=nan is not a number"):
        load_file(P, f, overrides={"lr": float("nan")})


def test_a_cross_field_fault_names_the_overrides_involved(tmp_path):
    from resnas.experiments.era import SearchParams

    f = tmp_path / "era_search.yaml"
    f.write_text("dataset: digits\nval_size: 0.2\nepochs: 3\nlow_lr_epochs: 1\n")
    with pytest.raises(ParamError) as e:
        load_file(SearchParams, f, overrides={"epochs": 1})
    assert str(e.value).startswith(f"{f} (with overrides epochs): low_lr_epochs=1 must be below epochs=1")


def test_the_saved_params_record_the_overridden_values(tmp_path):
    import yaml

    from resnas.params import save

    f = tmp_path / "x.yaml"
    f.write_text("epochs: 7\n")
    p = load_file(P, f, overrides={"seeds": [0, 1], "lr": 0.5})
    save(p, tmp_path / "out" / "params.yaml")
    saved = yaml.safe_load((tmp_path / "out" / "params.yaml").read_text())
    assert saved == {"dataset": "digits", "epochs": 7, "lr": 0.5, "seeds": [0, 1], "cap": None, "plot": True}
    assert validate(P, saved) == p  # what was saved validates back to the same parameters
    assert [x.name for x in (tmp_path / "out").iterdir()] == ["params.yaml"]  # no temporary file left


def test_check_summary_says_what_was_checked_in_one_line():
    from resnas.params import check_summary

    assert check_summary(P(epochs=7, seeds=(0, 1)), "nb (ci)") == "nb (ci): 6 keys valid — epochs=7, seeds=[0, 1]"
    assert check_summary(P()) == "P: 6 keys valid — every value its default"
    long = check_summary(P(dataset="fashion_mnist", epochs=3, lr=0.2, seeds=(4,), cap=9, plot=False), show=2)
    assert long == "P: 6 keys valid — dataset=fashion_mnist, epochs=3, +4 more" and "\n" not in long


def test_an_offline_data_set_is_named_by_check_and_stops_run_before_training(tmp_path, monkeypatch):
    """cifar10 is not on this machine (no network): `check` names it and passes (a paper profile validates
    offline); `run` stops with one line before any notebook starts, instead of a traceback after training."""
    import subprocess
    import sys

    from resnas.data import DataUnavailable, check_available

    try:
        check_available("cifar10")
        pytest.skip("cifar10 is on this machine: nothing offline to report")
    except DataUnavailable:
        pass
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "pooling_trials.yaml").write_text("dataset: cifar10\npretrain_epochs: 1\n")
    common = ["--profile", "ci", "--params-root", str(tmp_path), "pooling_trials"]
    out = subprocess.run([sys.executable, "-m", "resnas.pipeline", "check", *common], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and "NOT on this machine" in out.stdout and "cifar10" in out.stdout
    out = subprocess.run([sys.executable, "-m", "resnas.pipeline", "run", *common], capture_output=True,
                         text=True, timeout=120)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1 and "cifar10" in lines[0] and "[ci]" not in out.stdout
