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
# # Lab 01 — Search spaces: counting, sampling and costing ResNets
#
# A neural architecture search is only as good as the space it searches. This lab takes the space of the ERA
# thesis (§3.4): ResNets described by eight parameters —
#
# | parameter | values |
# | --- | --- |
# | `block` | `basic` (two 3×3 convs) or `bottleneck` (1×1 → 3×3 → 1×1, 4× expansion) |
# | `depths` | blocks per section, four sections: the first 0..18 (it may be empty), the others 1..18 |
# | `filters` | initial width: 1, 2, 4, 8, 16, 32 |
# | `update` | width multiplier from one section to the next: 1 or 2 |
# | `group` | channels per group of the 3×3 convolutions: 1, 2, 4, 8, 32 (clamped to `filters` when larger) |
#
# You will count it by hand and against the library (`resnas.spaces.era.EraSpace`), sample and build networks,
# and compute their parameters and FLOPs by formula, then check the formula against counting.
#
# Each exercise is a function with a `TODO`; fill it, run its cell, then run the self-check below it. A wrong
# answer stops the self-check with `WrongAnswer: ...` saying what is wrong and a hint.

# %% tags=["parameters"]
solved = False  # True: the teacher's solutions fill the TODOs
seed = 0
n_samples = 12  # networks sampled in part 3
max_depth = 4  # the reduced space sampled in part 3 (the thesis's is 18)
filters = [4, 8, 16]

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import display

from resnas import labs
from resnas.labs import search_spaces as checks
from resnas.spaces.era import BLOCKS, FILTERS_TEXT, GROUPS, UPDATES, EraConfig, EraSpace

LAB = "01_search_spaces"

# %% [markdown]
# ## 1. How many configurations?
# A configuration is one choice of each of the eight parameters. Write `count_configurations(max_depth,
# filters, groups)`: the number of configurations when every section holds at most `max_depth` blocks,
# `filters` lists the initial widths and `groups` the group sizes (block and update keep their two values each:
# `BLOCKS`, `UPDATES`).

# %%
def count_configurations(max_depth, filters, groups):
    # TODO: return the number of configurations, an int (hint: which sections may be empty?)
    raise NotImplementedError("TODO exercise 1: count_configurations")


count_configurations = labs.solution(LAB, count_configurations, solved)

# %%
checks.check_count(count_configurations)

# %%
space = EraSpace()
print(f"by hand: {count_configurations(18, FILTERS_TEXT, GROUPS):,}   library: {space.size():,}")

# %% [markdown]
# ## 2. How many distinct networks?
# A group size larger than the filter count is clamped to it (`EraConfig.canonical`), so several configurations
# build the same network. Write `count_networks(max_depth, filters, groups)`: the number of distinct networks.

# %%
def count_networks(max_depth, filters, groups):
    # TODO: return the number of distinct networks (hint: for filters=4, which group sizes differ?)
    raise NotImplementedError("TODO exercise 2: count_networks")


count_networks = labs.solution(LAB, count_networks, solved)

# %%
checks.check_distinct(count_networks)

# %%
distinct = count_networks(18, FILTERS_TEXT, GROUPS)
print(f"{distinct:,} distinct networks: {1 - distinct / space.size():.0%} of the configurations are duplicates, "
      f"layers {space.layer_range()[0]}..{space.layer_range()[1]}")

# %% [markdown]
# ## 3. Sampling and building networks
# Random search, and the first generation of every evolutionary search, draws configurations uniformly. Write
# `sample_config(space, rng)`: draw each parameter uniformly and independently from `space.choices()` (keys
# `block`, `d0`..`d3`, `filters`, `update`, `group`) with the numpy generator `rng`, and return the
# `EraConfig`, canonical.

# %%
def sample_config(space, rng):
    # TODO: draw every parameter of space.choices() uniformly with rng; return EraConfig(...).canonical()
    raise NotImplementedError("TODO exercise 3: sample_config")


sample_config = labs.solution(LAB, sample_config, solved)

# %%
checks.check_sample(sample_config)

# %% [markdown]
# Now a small sample from a reduced space (`max_depth`, `filters` above), each network built as a torch module.

# %%
small = EraSpace(filters_choices=tuple(filters), max_depth=max_depth)
rng = np.random.default_rng(seed)
sample = [sample_config(small, rng) for _ in range(n_samples)]
nets = [small.build(cfg) for cfg in sample]
print(f"reduced space: {small.size():,} configurations")
pd.DataFrame({"network": [str(c) for c in sample], "layers": [c.layers for c in sample]})

# %% [markdown]
# ## 4. Parameters by formula
# Write `conv_params(c_in, c_out, k, groups)`: the weights of a k×k convolution without bias from `c_in` to
# `c_out` channels in `groups` groups. `checks.params_by_formula(net, conv_params)` then adds batch norms
# (2 per channel) and the linear head and sums over a whole network.

# %%
def conv_params(c_in, c_out, k, groups):
    # TODO: return the number of weights of nn.Conv2d(c_in, c_out, k, groups=groups, bias=False)
    raise NotImplementedError("TODO exercise 4: conv_params")


conv_params = labs.solution(LAB, conv_params, solved)

# %%
checks.check_conv_params(conv_params)

# %% [markdown]
# ## 5. FLOPs by formula
# Write `conv_flops(c_in, c_out, k, stride, groups, h, w)`: the FLOPs of that convolution with padding `k // 2`
# on an `h`×`w` map, counting a multiply-add as 2 FLOPs (torch's `FlopCounterMode` does, and so does the library).

# %%
def conv_flops(c_in, c_out, k, stride, groups, h, w):
    # TODO: return 2 x (weights) x (output positions); mind the output size under stride
    raise NotImplementedError("TODO exercise 5: conv_flops")


conv_flops = labs.solution(LAB, conv_flops, solved)

# %%
checks.check_conv_flops(conv_flops)

# %% [markdown]
# ## Formula against counting, network by network
# Three answers per network: your formula, counting (torch's parameter tensors; `FlopCounterMode` running a
# 32×32 image through it) and the library's closed form (`EraSpace.count_params`, `count_flops`), which the
# search uses to reject networks without building them.

# %%
rows = []
for cfg, net in zip(sample, nets):
    rows.append({"network": str(cfg),
                 "params (formula)": checks.params_by_formula(net, conv_params),
                 "params (counted)": checks.params_by_counting(net),
                 "params (library)": small.count_params(cfg),
                 "FLOPs (formula)": checks.flops_by_formula(net, conv_flops),
                 "FLOPs (counted)": checks.flops_of(net.eval(), torch.zeros(1, 3, 32, 32)),
                 "FLOPs (library)": small.count_flops(cfg)})
costs = pd.DataFrame(rows)
display(costs)
agree = ((costs["params (formula)"] == costs["params (counted)"]) & (costs["params (counted)"] == costs["params (library)"])
         & (costs["FLOPs (formula)"] == costs["FLOPs (counted)"]) & (costs["FLOPs (counted)"] == costs["FLOPs (library)"]))
print(f"all three agree on {agree.sum()} of {len(costs)} networks")

# %%
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.scatter(costs["params (counted)"], costs["FLOPs (counted)"])
for cfg, x, y in zip(sample, costs["params (counted)"], costs["FLOPs (counted)"]):
    ax.annotate(f"{cfg.layers}L", (x, y), fontsize=7)
ax.set(xscale="log", yscale="log", xlabel="parameters", ylabel="FLOPs per 32×32 image",
       title="Sampled ERA networks (labels: layers)")
plt.show()

# %% [markdown]
# ## What to take away
# - The thesis's 13,296,960 configurations hold 8,864,640 distinct networks: a search that does not
#   canonicalise wastes a third of its samples on duplicates.
# - Parameters and FLOPs are not the same axis: FLOPs also depend on the map size each layer works at (the
#   first section runs at full resolution, later ones after stride-2 reductions); the scatter shows how loosely
#   the two are tied.
# - A closed form is what lets a search filter by `max_params` before training; counting is what checks it.
