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
# # Match weights per comparison level
#
# Every comparison (NHS number, given name, family name, birth date, sex, postcode,
# address, phone) puts a pair of records on one *level* (``exact``, ``nickname``,
# ``different``…). Each level has two probabilities:
#
# - **m**: the chance of this level when the two records are the same person;
# - **u**: the chance of it when they are different people.
#
# Its **match weight** is ``log2(m / u)`` bits: positive weights are evidence for a
# match, negative ones against. A pair's total weight is the sum over comparisons (the
# ``missing`` level weighs 0), added to the prior.
#
# This notebook draws the weights of the packaged **default model** (set by hand) next
# to a model **trained** by EM (`matching.training.train`) on the project's synthetic
# region. Big differences show where the hand-set values disagree with the data.
#
# Environment variables (all optional):
#
# - `MPI_NOTEBOOK_PERSONS`: true persons in the synthetic set (default 1500);
# - `MPI_NOTEBOOK_U_PAIRS`: random pairs sampled for u in training (default 200000);
# - `MPI_NOTEBOOK_FIGURES`: a directory to save the figures in (default: not saved).

# %%
import os
import sys
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:  # a script or a test: no display
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from matching.model import MatchModel, load_default_model  # noqa: E402
from matching.training import TrainingOptions, train  # noqa: E402
from mpi.demo.datasets import synthetic_records  # noqa: E402

PERSONS = int(os.environ.get("MPI_NOTEBOOK_PERSONS", "1500"))
U_PAIRS = int(os.environ.get("MPI_NOTEBOOK_U_PAIRS", "200000"))
FIGURES = os.environ.get("MPI_NOTEBOOK_FIGURES")


def show(fig, name):
    """Save the figure when MPI_NOTEBOOK_FIGURES is set; in a script, then close it."""
    if FIGURES:
        Path(FIGURES).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(FIGURES) / f"{name}.png", dpi=100)
    if "ipykernel" not in sys.modules:
        plt.close(fig)


# %% [markdown]
# ## The models
#
# The default model ships with the engine. The trained one is fitted on the synthetic
# region: u from random record pairs, m by EM on blocked pairs, the prior from the
# expected number of matches.

# %%
default = load_default_model()
data = synthetic_records(PERSONS, seed=1)
result = train(data.records, options=TrainingOptions(u_pairs=U_PAIRS, seed=1))
trained = result.model
print(f"{data.name}: {len(data.records)} records from {len(set(data.persons))} persons")
print(result.model.description)
print("default thresholds:", dict(default.thresholds), " prior:", default.prior)
print("trained thresholds:", dict(trained.thresholds), " prior:", f"{trained.prior:.3g}")


# %%
def level_table(model: MatchModel) -> pd.DataFrame:
    """One row per comparison level with m, u and the weight (missing left out)."""
    rows = [
        {
            "comparison": c.name,
            "level": level.label,
            "m": level.m,
            "u": level.u,
            "weight": level.weight,
        }
        for c in model.comparisons
        for level in c.levels[1:]
    ]
    return pd.DataFrame(rows)


table = level_table(default).merge(
    level_table(trained), on=["comparison", "level"], suffixes=("_default", "_trained")
)
table["difference"] = table["weight_trained"] - table["weight_default"]
with pd.option_context("display.width", 120, "display.float_format", "{:.4g}".format):
    print(table.to_string(index=False))

# %% [markdown]
# ## Weights per level, default against trained
#
# One panel per comparison; levels run from the strongest agreement (top) to the else
# level (bottom).

# %%
comparisons = [c.name for c in default.comparisons]
columns = 2
rows = (len(comparisons) + columns - 1) // columns
fig, axes = plt.subplots(rows, columns, figsize=(12, 3.2 * rows), squeeze=False)
for ax, name in zip(axes.flat, comparisons, strict=False):
    part = table[table["comparison"] == name]
    y = np.arange(len(part))
    ax.barh(y - 0.2, part["weight_default"], height=0.4, label="default", color="tab:gray")
    ax.barh(y + 0.2, part["weight_trained"], height=0.4, label="trained", color="tab:blue")
    ax.set_yticks(y, part["level"])
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_title(name)
    ax.set_xlabel("match weight (bits)")
for ax in axes.flat[len(comparisons) :]:
    ax.set_visible(False)
axes.flat[0].legend(loc="lower right")
fig.suptitle("Match weight per comparison level")
fig.tight_layout()
show(fig, "model_weights")

# %% [markdown]
# ## m and u per level
#
# The weight is a ratio; m and u on their own show where it comes from. A tiny u (rare
# agreement between strangers) makes a large weight even when m is modest.

# %%
fig, axes = plt.subplots(rows, columns, figsize=(12, 3.2 * rows), squeeze=False)
for ax, name in zip(axes.flat, comparisons, strict=False):
    part = table[table["comparison"] == name]
    y = np.arange(len(part))
    ax.scatter(part["m_default"], y, marker="o", color="tab:gray", label="m default")
    ax.scatter(part["m_trained"], y, marker="o", color="tab:blue", label="m trained")
    ax.scatter(part["u_default"], y, marker="x", color="tab:gray", label="u default")
    ax.scatter(part["u_trained"], y, marker="x", color="tab:red", label="u trained")
    ax.set_xscale("log")
    ax.set_yticks(y, part["level"])
    ax.invert_yaxis()
    ax.set_title(name)
    ax.set_xlabel("probability (log scale)")
for ax in axes.flat[len(comparisons) :]:
    ax.set_visible(False)
axes.flat[0].legend(loc="lower left", fontsize="small")
fig.suptitle("m (same person) and u (different people) per level")
fig.tight_layout()
show(fig, "model_m_u")

# %% [markdown]
# ## Largest disagreements
#
# Levels whose trained weight differs most from the default: the first places to look
# when tuning the default model or judging a training run.

# %%
print(
    table.reindex(table["difference"].abs().sort_values(ascending=False).index)
    .head(10)[["comparison", "level", "weight_default", "weight_trained", "difference"]]
    .to_string(index=False, float_format="{:.2f}".format)
)
