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
# # Lab 04 — Network morphisms: grow a trained network without changing what it computes, then prune it
#
# Paper: ECToNAS (`../shared/papers/ectonas.txt`: weight-preserving morphisms, up to around 80% of training time saved); our numbers are computed below, beside it.
#
# ECToNAS (and Net2Net before it) searches by *editing a trained network*: widen a layer, insert a layer, remove
# channels, keeping the weights it has learned. A morphism is *function-preserving* when the edited network
# computes exactly the same outputs, so training continues from where it was instead of starting again.
#
# You will write the three building blocks — how the next layer shares out a widened layer's copies, the kernel
# that makes a new convolution the identity, and the order in which channels are pruned — then check them on a
# small CNN trained for a few seconds on 8×8 digits, with `resnas.morph` doing the surgery.

# %% tags=["parameters"]
solved = False  # True: the teacher's solutions fill the TODOs
seed = 0
epochs = 15  # training of the small CNN (seconds)
random_orders = 5  # random pruning orders compared with |gamma|

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import display

from resnas import labs, morph
from resnas.labs import morphisms as checks

LAB = "04_morphisms"
torch.set_num_threads(1)

# %% [markdown]
# ## A small trained network
# Two conv cells (conv → [pool] → batch norm → ReLU: 8 then 16 channels, a 2×2 max pool on the second), one
# hidden dense layer of 32 units, 10 classes.

# %%
x_train, y_train, x_val, y_val = checks.digits(seed)
net = checks.train(checks.small_cnn(seed=seed), x_train, y_train, epochs=epochs, seed=seed)
base_acc = checks.accuracy(net, x_val, y_val)
print(f"{morph.genome_of(net)}\nvalidation accuracy {base_acc:.3f} on {len(y_val)} digits")

# %% [markdown]
# ## 1. Widening: who pays for the copies?
# Net2WiderNet widens a layer by copying units: new unit `j` copies old unit `g[j]` (its incoming weights and
# bias), so the copies output the same activations. The next layer now sees each activation several times.
# Write `split_next_weight(next_weight, g)`: given the next layer's weight `(out, old_width)` and the copy map `g`
# (a long tensor of length `new_width`; `g[:old_width]` is `0..old_width-1`), return its new weight
# `(out, new_width)` such that the network computes the same function.

# %%
def split_next_weight(next_weight, g):
    # TODO: return the next layer's weight for the widened layer (hint: torch.bincount)
    raise NotImplementedError("TODO exercise 1: split_next_weight")


split_next_weight = labs.solution(LAB, split_next_weight, solved)

# %%
checks.check_split(split_next_weight)

# %% [markdown]
# Widen the trained network's hidden layer from 32 to 48 units with your function, and its second conv cell
# from 16 to 24 channels with `morph.widen_conv` (the same idea, with the batch norm's statistics copied per
# channel). `morph.output_change` is the largest absolute difference of the two networks' outputs.

# %%
wide = checks.widen_dense_with(net, 0, 16, split_next_weight, seed=seed)
wider, report = morph.widen_conv(wide, 1, 8, generator=torch.Generator().manual_seed(seed))
rows = [("widen dense 32 -> 48 (yours)", wide), ("+ widen conv 16 -> 24 (resnas.morph)", wider)]

# %% [markdown]
# ## 2. Deepening: a layer that does nothing
# To insert a conv cell, its 3×3 convolution must start as the identity. Write `identity_kernel(channels)`: the
# weight `(channels, channels, 3, 3)` of a convolution (padding 1, no bias) that returns its input.

# %%
def identity_kernel(channels):
    # TODO: return a (channels, channels, 3, 3) tensor such that conv2d(x, kernel, padding=1) == x
    raise NotImplementedError("TODO exercise 2: identity_kernel")


identity_kernel = labs.solution(LAB, identity_kernel, solved)

# %%
checks.check_identity_kernel(identity_kernel)

# %% [markdown]
# `morph.add_conv_cell` inserts such a convolution with a batch norm set to the identity and a ReLU. The ReLU is
# why it is exact only where its input is already nonnegative: after another cell's ReLU (index 1 here), or at
# index 0 for images without negative pixels. Our digits are in [0, 1]; centred digits (x − 0.5) are not.

# %%
deeper, _ = morph.add_conv_cell(wider, 1)
first, _ = morph.add_conv_cell(net, 0)
assert torch.equal(first.convs[0].weight.detach(), identity_kernel(1).to(first.convs[0].weight.dtype))
rows += [("+ insert a conv cell at index 1", deeper), ("insert a conv cell at index 0", first)]
proof = pd.DataFrame([{"network": name, "parameters": morph.count_params(m),
                       "output change": morph.output_change(net, m, x_val),
                       "same predictions": bool((net(x_val).argmax(1) == m(x_val).argmax(1)).all()),
                       "val accuracy": checks.accuracy(m, x_val, y_val)} for name, m in rows])
centred = morph.output_change(net, first, x_val - 0.5)
display(proof)
print(f"index 0 on centred digits (negative pixels): output change {centred:.3g} — no longer the same function")

# %% [markdown]
# Every grown network computes the trained network's function up to float rounding: same predictions, same
# accuracy, more parameters, ready to train further. ("Proof" here is a measurement on 540 images; the algebra
# is in the docstrings of `resnas.morph`.)
#
# ## 3. Pruning: what is lost?
# Shrinking is not exact. Network slimming removes the channels whose batch-norm scale |γ| is smallest: a
# channel multiplied by a small γ contributes little. Write `prune_order(gamma)`: the channel indices in the
# order they are removed.

# %%
def prune_order(gamma):
    # TODO: return the channel indices, the first to remove first
    raise NotImplementedError("TODO exercise 3: prune_order")


prune_order = labs.solution(LAB, prune_order, solved)

# %%
checks.check_prune_order(prune_order)

# %% [markdown]
# Remove 1 to 15 of the 16 channels of the trained network's second cell, in your |γ| order and in random orders
# (each removed channel is folded into the next layer's bias as its constant output; `morph.remove_conv_channels`
# does the same for the |γ| order). Accuracy without retraining:

# %%
gamma = net.norms[1].weight.detach()
order = [int(i) for i in prune_order(gamma)]
rng = np.random.default_rng(seed)
rows = []
for k in range(1, len(gamma)):
    rows.append({"removed": k, "order": "smallest |gamma| first",
                 "val accuracy": checks.accuracy(checks.prune_channels(net, 1, order[:k]), x_val, y_val)})
    for r in range(random_orders):
        removed = rng.permutation(len(gamma))[:k]
        rows.append({"removed": k, "order": "random",
                     "val accuracy": checks.accuracy(checks.prune_channels(net, 1, removed), x_val, y_val)})
pruned = pd.DataFrame(rows)
lib_net, _ = morph.remove_conv_channels(net, 1, 4)
assert morph.output_change(lib_net, checks.prune_channels(net, 1, order[:4]), x_val) < 1e-5  # same surgery

fig, ax = plt.subplots(figsize=(5.5, 3.5))
for name, part in pruned.groupby("order"):
    m = part.groupby("removed")["val accuracy"]
    ax.plot(m.mean().index, m.mean(), marker="o", label=name)
    if name == "random":
        ax.fill_between(m.min().index, m.min(), m.max(), alpha=0.2)
ax.axhline(base_acc, color="grey", ls="--", label="before pruning")
ax.set(xlabel="channels removed from cell 1 (of 16)", ylabel="validation accuracy", title="Pruning without retraining")
ax.legend()
plt.show()
summary = pruned.groupby(["removed", "order"])["val accuracy"].mean().unstack()
display(summary.round(3).T)

# %% [markdown]
# ## What to take away
# - Widening and deepening can be exact, so a search that grows networks keeps everything trained so far.
# - Pruning cannot: the curve shows what each removed channel costs before retraining, and whether |γ| picks
#   cheaper channels to remove than chance does on this network (it need not: without a sparsity penalty on γ
#   during training, |γ| is only a rough guide; network slimming adds that penalty).
# - A channel whose γ is exactly 0 outputs a constant; folding it into the next bias removes it exactly.
