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
