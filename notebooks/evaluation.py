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
# # How well do the models separate matches from non-matches?
#
# On three labelled sets — the project's **synthetic** region (six systems), **FEBRL3**
# (one file with duplicates) and **FEBRL4** (two files to link: only pairs with one
# record from each file are candidates) — this notebook scores the candidate pairs the
# service would score (records sharing a blocking key, `matching.blocking`) under the
# **default** model and under a model **trained** by EM on the same records, and shows:
#
# 1. the match-probability histogram, true matches against non-matches;
# 2. precision–recall and threshold curves on the labelled pairs;
# 3. the review workload: pairs between the review and link thresholds at each
#    review threshold, and the true matches that would fall below it.
#
# Pairs are scored from their comparison vectors, without term-frequency adjustment of
# names. The default model's prior is set for an index of 250,000 records; it is scaled
# to each set's size as the service scales it for its index
# (`TermFrequencies.prior_shift`). A trained model's prior was measured on the set.
#
# Environment variables (all optional):
#
# - `MPI_NOTEBOOK_PERSONS`: true persons in the synthetic set (default 1500);
# - `MPI_NOTEBOOK_FEBRL`: true persons kept from FEBRL3 and FEBRL4 (default 1000; all is
#   5000);
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

from matching.blocking import blocking_keys  # noqa: E402
from matching.evaluation import (  # noqa: E402
    across_sources,
    count_true_pairs,
    pair_probabilities,
    pairwise_curve,
    review_workload,
    same_person,
)
from matching.frequencies import TermFrequencies  # noqa: E402
from matching.model import load_default_model  # noqa: E402
from matching.training import (  # noqa: E402
    TrainingOptions,
    blocked_pairs,
    comparison_matrix,
    train,
)
from mpi.demo.datasets import febrl_records, synthetic_records  # noqa: E402

PERSONS = int(os.environ.get("MPI_NOTEBOOK_PERSONS", "1500"))
FEBRL = int(os.environ.get("MPI_NOTEBOOK_FEBRL", "1000"))
U_PAIRS = int(os.environ.get("MPI_NOTEBOOK_U_PAIRS", "200000"))
FIGURES = os.environ.get("MPI_NOTEBOOK_FIGURES")
MAX_BLOCK = 200  # blocking keys held by more records are skipped, as in matching


def show(fig, name):
    """Save the figure when MPI_NOTEBOOK_FIGURES is set; in a script, then close it."""
    if FIGURES:
        Path(FIGURES).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(FIGURES) / f"{name}.png", dpi=100)
    if "ipykernel" not in sys.modules:
        plt.close(fig)


def as_weight(p):
    """Match probability as a match weight (log2 odds), for axes that spread out 0.999…"""
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
    return np.log2(p / (1 - p))


# %% [markdown]
# ## Data, candidate pairs and scores
#
# For each set: the records, the blocked candidate pairs (FEBRL4: across the two files
# only), their labels from the truth, and every pair's probability under both models.
# *Blocking recall* is the share of all true pairs that became candidates: no threshold
# can find the rest.

# %%
default = load_default_model()
sets = [
    (synthetic_records(PERSONS, seed=1), False),
    (febrl_records("FEBRL3", limit=FEBRL), False),
    (febrl_records("FEBRL4", limit=FEBRL), True),
]

runs = {}
for data, link_files in sets:
    records = data.records
    pairs = blocked_pairs([blocking_keys(r) for r in records], MAX_BLOCK)
    if link_files:
        pairs = across_sources(pairs, data.sources)
    labels = same_person(pairs, data.persons)
    true_pairs = count_true_pairs(data.persons, data.sources if link_files else None)
    matrix = comparison_matrix(records, pairs)
    trained = train(records, options=TrainingOptions(u_pairs=U_PAIRS, seed=1)).model
    shift = TermFrequencies.build(default, len(records), {}, {}, min_total=0).prior_shift
    runs[data.name] = {
        "records": len(records),
        "pairs": pairs,
        "labels": labels,
        "true_pairs": true_pairs,
        "models": {"default": default, "trained": trained},
        "p": {
            "default": pair_probabilities(default, matrix, prior_shift=shift),
            "trained": pair_probabilities(trained, matrix),
        },
    }
    print(
        f"{data.name}: {len(records)} records, {len(pairs)} candidate pairs, "
        f"{int(labels.sum())} of {true_pairs} true pairs among them "
        f"(blocking recall {labels.sum() / max(true_pairs, 1):.3f})"
    )

# %% [markdown]
# ## Summary at each model's own thresholds
#
# Pairs at or above the link threshold are linked automatically; pairs between the
# review and link thresholds go to a reviewer. Recall here counts every true pair,
# including those blocking never proposed.

# %%
summary = []
for name, run in runs.items():
    for model_name, model in run["models"].items():
        p, y = run["p"][model_name], run["labels"]
        link, review = model.thresholds["link"], model.thresholds["review"]
        point = pairwise_curve(p, y, [link], total_matches=run["true_pairs"]).at(link)
        work = review_workload(p, [review], link, y)
        summary.append(
            {
                "set": name,
                "model": model_name,
                "link": link,
                "review": review,
                "linked": point["pairs"],
                "precision": point["precision"],
                "recall": point["recall"],
                "f1": point["f1"],
                "to review": int(work.pairs[0]),
                "matches in review": int(work.matches_reviewed[0]),
                "matches missed": int(work.matches_missed[0]),
            }
        )
summary = pd.DataFrame(summary)
with pd.option_context("display.width", 160):
    print(summary.to_string(index=False, float_format="{:.4f}".format))

# %% [markdown]
# ## Match-probability histograms
#
# A good model pushes true matches (orange) to the right and non-matches (blue) to the
# left; pairs in the middle are the ones a reviewer sees. The count axis is logarithmic:
# non-matches far outnumber matches among candidates.

# %%
names = list(runs)
model_names = ["default", "trained"]
bins = np.linspace(0.0, 1.0, 41)
fig, axes = plt.subplots(
    len(names), len(model_names), figsize=(12, 3.2 * len(names)), squeeze=False
)
for row, name in enumerate(names):
    run = runs[name]
    y = run["labels"]
    for col, model_name in enumerate(model_names):
        ax = axes[row, col]
        p = run["p"][model_name]
        ax.hist(
            [p[~y], p[y]],
            bins=bins,
            label=["non-match", "match"],
            color=["tab:blue", "tab:orange"],
            histtype="stepfilled",
            alpha=0.6,
        )
        if len(p):
            ax.set_yscale("log")
        thresholds = run["models"][model_name].thresholds
        for key, style in (("review", ":"), ("link", "--")):
            ax.axvline(thresholds[key], color="black", linestyle=style, linewidth=1, label=key)
        ax.set_title(f"{name}, {model_name} model")
        ax.set_xlabel("match probability")
        ax.set_ylabel("candidate pairs")
axes[0, 0].legend(loc="upper center", fontsize="small")
fig.tight_layout()
show(fig, "probability_histograms")

# %% [markdown]
# ## Precision–recall curves
#
# Each curve sweeps the link threshold over every probability seen; the dot is the
# model's own link threshold. Recall is over all true pairs, so a curve ends at the
# blocking recall, not at 1.

# %%
curves = {
    (name, model_name): pairwise_curve(
        run["p"][model_name], run["labels"], total_matches=run["true_pairs"]
    )
    for name, run in runs.items()
    for model_name in model_names
}
colours = {"default": "tab:gray", "trained": "tab:blue"}
fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4.2), squeeze=False)
for ax, name in zip(axes[0], names, strict=True):
    for model_name in model_names:
        curve = curves[name, model_name]
        ax.plot(curve.recall, curve.precision, color=colours[model_name], label=model_name)
        link = runs[name]["models"][model_name].thresholds["link"]
        if curve.thresholds.size and curve.thresholds.min() <= link:
            point = curve.at(link)
            ax.plot(point["recall"], point["precision"], "o", color=colours[model_name])
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(name)
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
fig.tight_layout()
show(fig, "precision_recall")

# %% [markdown]
# ## Threshold curves
#
# Precision and recall (solid, dashed) against the threshold, drawn as a match weight
# (log2 odds: 0 is p = 0.5, 10 is about p = 0.999) so that the thresholds near 1 spread
# out. Vertical lines: each model's link threshold.

# %%
grid = np.concatenate([np.linspace(0.01, 0.99, 99), 1 - np.logspace(-2.5, -7, 30)])
fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4.2), squeeze=False)
for ax, name in zip(axes[0], names, strict=True):
    run = runs[name]
    for model_name in model_names:
        curve = pairwise_curve(
            run["p"][model_name], run["labels"], grid, total_matches=run["true_pairs"]
        )
        x = as_weight(curve.thresholds)
        colour = colours[model_name]
        ax.plot(x, curve.precision, color=colour, label=f"{model_name} precision")
        ax.plot(x, curve.recall, color=colour, linestyle="--", label=f"{model_name} recall")
        link = run["models"][model_name].thresholds["link"]
        ax.axvline(as_weight(link), color=colour, linestyle=":", linewidth=1)
    ax.set_xlabel("threshold (match weight, bits)")
    ax.set_ylim(0, 1.02)
    ax.set_title(name)
    ax.grid(alpha=0.3)
axes[0, 0].legend(loc="lower left", fontsize="small")
fig.tight_layout()
show(fig, "threshold_curves")

# %% [markdown]
# ## Review workload
#
# With each model's link threshold fixed, how many pairs a reviewer must look at for
# each review threshold (bars), and how many true matches would then be neither linked
# nor reviewed (line). Lowering the review threshold trades work for missed matches.

# %%
review_grid = np.array([0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99])
fig, axes = plt.subplots(
    len(names), len(model_names), figsize=(12, 3.2 * len(names)), squeeze=False
)
workload_rows = []
for row, name in enumerate(names):
    run = runs[name]
    for col, model_name in enumerate(model_names):
        ax = axes[row, col]
        link = run["models"][model_name].thresholds["link"]
        work = review_workload(run["p"][model_name], review_grid, link, run["labels"])
        positions = np.arange(len(work.review_thresholds))
        ax.bar(positions, work.pairs, color="tab:blue", alpha=0.7, label="pairs to review")
        ax.set_xticks(positions, [f"{t:g}" for t in work.review_thresholds], rotation=45)
        ax.set_xlabel(f"review threshold (link at {link:g})")
        ax.set_ylabel("pairs to review")
        missed = ax.twinx()
        missed.plot(positions, work.matches_missed, color="tab:red", marker="o")
        missed.set_ylabel("matches missed", color="tab:red")
        missed.set_ylim(0, max(1.0, 1.1 * float(work.matches_missed.max())))
        ax.set_title(f"{name}, {model_name} model")
        for t, pairs_, found, lost in zip(
            work.review_thresholds,
            work.pairs,
            work.matches_reviewed,
            work.matches_missed,
            strict=True,
        ):
            workload_rows.append(
                {
                    "set": name,
                    "model": model_name,
                    "review": t,
                    "to review": int(pairs_),
                    "matches in review": int(found),
                    "matches missed": int(lost),
                }
            )
fig.tight_layout()
show(fig, "review_workload")

workload = pd.DataFrame(workload_rows)
print(
    workload.pivot_table(
        index="review", columns=["set", "model"], values="to review", aggfunc="sum"
    ).sort_index(ascending=False)
)
