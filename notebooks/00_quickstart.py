# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Quickstart: two small ResNets, learning curves, and the archive
#
# This notebook opens the teaching path. It trains two small networks from the ERA ResNet space on
# scikit-learn's 8×8 digits and on a class-balanced Fashion-MNIST subset (both offline), plots their learning
# curves, and then asks for one of them again to show that the archive answers without retraining — the
# mechanism that lets a killed search resume and several searches share work.
#
# Parameters come from `params/<profile>/00_quickstart.yaml`; change `profile` below or pass overrides.

# %% tags=["parameters"]
profile = "default"
out_dir = None  # default: results/<profile>/quickstart/; make passes a fresh folder, swapped in on success
store_dir = None  # default: results/<profile>/store/quickstart/: the archive, kept across runs
results_dir = None  # default: results/<profile>/ (where other notebooks' folders are)
params_root = None  # default: params/ of this repository
overrides = {}

# %%
import time

import pandas as pd
from IPython.display import display

from resnas import plots
from resnas.data import DataSpec
from resnas.evaluate import Evaluator, history_frame
from resnas.experiments.quickstart import Params, beside_paper
from resnas.params import load_profile
from resnas.report import REPOSITORY, Output
from resnas.spaces.era import EraConfig
from resnas.train import TrainRecipe

P = load_profile(Params, "00_quickstart", profile, overrides, root=params_root or REPOSITORY / "params")
out = Output.open("quickstart", profile, "Quickstart: two small ResNets and the archive", P,
                  out_dir, store_dir, results_dir)
P

# %% [markdown]
# ## The two networks
# Each is an `EraConfig`; its JSON form is what the archive stores, and `EraConfig.from_json` rebuilds it.

# %%
configs = {name: EraConfig(**{**c, "depths": tuple(c["depths"])}).canonical() for name, c in P.models.items()}
for name, cfg in configs.items():
    print(f"{name:>18}: {cfg}  layers={cfg.layers}")

# %% [markdown]
# ## Train them on each data set
# One `Evaluator` per data set: a data spec, a training recipe and a seed define the fidelity; the archive
# (`archive.sqlite` in `results/<profile>/store/quickstart/`, kept across runs) keys every record by all of these.

# %%
recipe = TrainRecipe(epochs=P.epochs, batch_size=P.batch_size, lr=P.lr, schedule="cosine")
rows, curves = [], []
for dataset in P.datasets:
    spec = DataSpec(name=dataset, train_per_class=P.train_per_class, val_per_class=P.val_per_class, seed=P.seed)
    ev = Evaluator(out.store / "archive.sqlite", spec, recipe, seed=P.seed, device=P.device)
    records = ev.map([("era", cfg) for cfg in configs.values()], desc=dataset)
    for name, rec in zip(configs, records):
        rows.append({"dataset": dataset, "model": name, "status": rec.status, "params": rec.params,
                     "flops": rec.flops, "final_val_acc": rec.final_val_acc, "best_val_acc": rec.best_val_acc,
                     "best_epoch": rec.best_epoch, "train_seconds": round(rec.wall_time, 2),
                     "from_archive": rec.cached})
        curves.append(history_frame([rec]).assign(dataset=dataset, model=name))
results = out.table(pd.DataFrame(rows), "results", "Final and best validation accuracy of each network")
history = out.table(pd.concat(curves, ignore_index=True), "history", "Learning curves (one row per epoch)",
                    readme=False)
display(results)

# %%
fig = plots.learning_curves(history, hue="model", col="dataset")
out.figure(fig, "learning_curves", "Validation accuracy and training loss per epoch");

# %% [markdown]
# ## Ask again: the archive answers
# The same request, with the same fidelity, is served from disk. A fresh `Evaluator` on the same archive
# file stands for a new session after a crash.

# %%
ev = Evaluator(out.store / "archive.sqlite", spec, recipe, seed=P.seed, device=P.device)
t0 = time.perf_counter()
again = ev.map([("era", cfg) for cfg in configs.values()])
seconds = time.perf_counter() - t0
demo = pd.DataFrame([{"model": n, "from_archive": r.cached, "same_accuracy": r.final_val_acc == row.final_val_acc,
                      "trained_by_run_id": r.run_id}
                     for (n, r), row in zip(zip(configs, again),
                                            results[results.dataset == spec.name].itertuples())])
out.table(demo, "archive_demo", f"Second request on {spec.name}: {ev.trained} trained, {ev.served} served from "
          f"the archive in {seconds:.3f} s")
assert ev.trained == 0 and all(r.cached for r in again)
display(demo)

# %% [markdown]
# ## Beside a paper
# The quickstart reproduces no paper's claim: it shows the machinery. The nearest published figure is ECToNAS's
# plain-training baseline (`ectonas.txt:158`, Table 1, column B): small networks (28 K parameters on average)
# trained for 200 epochs on the whole training set, scored by test accuracy. Ours train on a few hundred images
# for a few epochs and are scored by validation accuracy, so the paper's column is the scale a full training
# reaches, not a comparison. Digits stand in for MNIST, as in the ECToNAS notebooks.

# %%
paper = out.table(beside_paper(results), "paper", "Our networks beside ECToNAS's plain-training baseline "
                  "(Table 1, column B: whole training set, 200 epochs, test accuracy)")
display(paper)

# %%
best = results.sort_values("final_val_acc").groupby("dataset").tail(1)
out.note("Best network per data set: " + "; ".join(
    f"{r.dataset}: {r.model} ({r.final_val_acc:.3f} validation accuracy, {r.params:,} parameters)"
    for r in best.itertuples()) + f". {len(configs)} networks × {len(P.datasets)} data sets, {P.epochs} epochs.")
