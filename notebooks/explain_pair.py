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
# # Why did these two records score as they did?
#
# A pair's match weight is the prior (how likely two records taken at random are the
# same person, as a weight) plus one weight per comparison. The waterfall below starts
# at the prior and adds each comparison in turn (green: evidence for a match, red:
# against), ending at the pair's match weight and its match probability — the same
# numbers the service records with a link decision (`matching.scoring.score`, with
# term-frequency adjustment of names and the prior scaled to the index's size).
#
# The pairs are picked from the synthetic region's candidate pairs: the true match the
# model finds least convincing, and the pair of different people it finds most
# convincing. To explain another pair, set `first` and `second` below to two record
# indexes.
#
# Environment variables (all optional):
#
# - `MPI_NOTEBOOK_PERSONS`: true persons in the synthetic set (default 1500);
# - `MPI_NOTEBOOK_FIGURES`: a directory to save the figures in (default: not saved).

# %%
import os
import sys
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import matplotlib

if "ipykernel" not in sys.modules:  # a script or a test: no display
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from matching.blocking import blocking_keys  # noqa: E402
from matching.evaluation import same_person, weight_waterfall  # noqa: E402
from matching.frequencies import TermFrequencies  # noqa: E402
from matching.model import load_default_model  # noqa: E402
from matching.scoring import score  # noqa: E402
from matching.training import blocked_pairs  # noqa: E402
from mpi.demo.datasets import synthetic_records  # noqa: E402

PERSONS = int(os.environ.get("MPI_NOTEBOOK_PERSONS", "1500"))
FIGURES = os.environ.get("MPI_NOTEBOOK_FIGURES")


def show(fig, name):
    """Save the figure when MPI_NOTEBOOK_FIGURES is set; in a script, then close it."""
    if FIGURES:
        Path(FIGURES).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(FIGURES) / f"{name}.png", dpi=100)
    if "ipykernel" not in sys.modules:
        plt.close(fig)


# %% [markdown]
# ## Records, candidate pairs and the service's scoring
#
# Name and postcode frequencies over the set adjust the weight of an exact agreement (a
# shared SMITH, or a care home's postcode, counts less than a rare one); the default model's prior, set for an index
# of 250,000 records, is scaled to this set's size.

# %%
model = load_default_model()
data = synthetic_records(PERSONS, seed=1)
records = data.records
given = Counter(r.given_names[0] for r in records if r.given_names)
family = Counter(r.family_name for r in records if r.family_name)
postcode = Counter(r.postcode for r in records if r.postcode)
adjuster = TermFrequencies.build(model, len(records), given, family, postcode)
prior_weight = model.prior_weight + adjuster.prior_shift

pairs = blocked_pairs([blocking_keys(r) for r in records], 200)
labels = same_person(pairs, data.persons)
probability = np.array(
    [score(model, records[a], records[b], adjuster=adjuster).probability for a, b in pairs.tolist()]
)
print(f"{data.name}: {len(records)} records, {len(pairs)} candidate pairs")
print(
    f"prior weight {prior_weight:.2f} bits (model {model.prior_weight:.2f}, "
    f"shifted {adjuster.prior_shift:+.2f} for {len(records)} records)"
)

# %% [markdown]
# ## The pair
#
# By default: the true match with the lowest match probability. Set `first` and
# `second` to two record indexes (0 to len(records) - 1) to explain any other pair.

# %%
matches = np.flatnonzero(labels)
chosen = matches[np.argmin(probability[matches])] if len(matches) else 0
first, second = (int(x) for x in pairs[chosen])


def side_by_side(i, j):
    """The two normalised records, field by field, with their source and true person."""
    table = pd.DataFrame({"record A": asdict(records[i]), "record B": asdict(records[j])})
    table.loc["source"] = [data.sources[i], data.sources[j]]
    table.loc["true person"] = [data.persons[i], data.persons[j]]
    return table.drop(index=["given_phonetic", "family_phonetic", "family_parts"])


print(side_by_side(first, second).to_string())


# %%
def waterfall_chart(i, j, title):
    """Score records i and j as the service does and draw the waterfall of their weights."""
    result = score(model, records[i], records[j], adjuster=adjuster)
    steps = weight_waterfall(prior_weight, result.fields)
    assert abs(steps[-1].probability - result.probability) < 1e-9

    fig, ax = plt.subplots(figsize=(11, 4.8))
    x = np.arange(len(steps))
    for k, step in enumerate(steps):
        if k == len(steps) - 1:
            colour = "tab:blue"
        elif k == 0:
            colour = "tab:gray"
        else:
            colour = "tab:green" if step.weight >= 0 else "tab:red"
        ax.bar(k, step.end - step.start, bottom=step.start, color=colour, width=0.7)
        ax.annotate(
            f"{step.weight:+.1f}",
            (k, max(step.start, step.end)),
            textcoords="offset points",
            xytext=(0, 3),
            ha="center",
            fontsize="small",
        )
        if k < len(steps) - 1:  # connect each step to the next
            ax.plot([k - 0.35, k + 1.35], [step.end, step.end], color="black", linewidth=0.5)
    ax.axhline(0, color="black", linewidth=0.8)
    for key, style in (("review", ":"), ("link", "--")):
        p = model.thresholds[key]
        ax.axhline(
            np.log2(p / (1 - p)),
            color="black",
            linestyle=style,
            linewidth=1,
            label=f"{key} threshold (p = {p:g})",
        )
    ax.set_xticks(x, [s.label.replace(": ", "\n") for s in steps], fontsize="small")
    ax.set_ylabel("match weight (bits)")
    flags = f"; flags: {', '.join(result.flags)}" if result.flags else ""
    ax.set_title(
        f"{title}: weight {steps[-1].end:.1f}, probability {result.probability:.4g}{flags}"
    )
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()

    table = pd.DataFrame(
        [
            {
                "step": s.label,
                "weight": s.weight,
                "running total": s.end,
                "probability": s.probability,
            }
            for s in steps
        ]
    )
    print(table.to_string(index=False, float_format="{:.4g}".format))
    return fig


fig = waterfall_chart(first, second, "Least convincing true match")
show(fig, "explain_match")

# %% [markdown]
# ## A near false merge
#
# The candidate pair of two different people with the highest match probability: the
# waterfall shows which agreements pushed it up. Safety flags (twin risk, conflicting
# NHS numbers…) can stop such a pair from being linked automatically whatever its
# probability.

# %%
others = np.flatnonzero(~labels)
if len(others):
    a, b = (int(x) for x in pairs[others[np.argmax(probability[others])]])
    print(side_by_side(a, b).to_string())
    fig = waterfall_chart(a, b, "Most convincing non-match")
    show(fig, "explain_non_match")
