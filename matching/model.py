"""The match model: m and u probabilities per comparison level, the prior and thresholds.

A model is data: a versioned JSON document (``data/default_model.json`` is the default)
that :meth:`MatchModel.from_dict` checks completely, reporting every problem with its path,
before anything is scored. The weight of a level is ``log2(m / u)``; the ``missing`` level
has no m or u and weighs 0.

Document shape::

    {
      "version": "default-1",
      "description": "...",
      "prior": 1e-05,
      "thresholds": {"link": 0.999, "review": 0.5},
      "comparisons": {
        "nhs_number": {
          "description": "...",
          "levels": [
            {"label": "missing"},
            {"label": "exact_verified", "m": 0.55, "u": 1e-07, "description": "..."},
            ...
          ]
        },
        ...
      }
    }

Every declared comparison (:data:`matching.comparisons.COMPARISONS`) must be present with
exactly its level labels in order, except an optional one (a comparison added after
models were trained, :attr:`matching.comparisons.Comparison.optional`): a model file
that lacks it still loads, and the comparison takes its declared defaults
(:meth:`~matching.comparisons.Comparison.default_parameters`: weight 0 on every level
unless the levels declare their own m and u), described as :data:`DEFAULTED`. Within a
comparison the m values, and the u values, of the levels other than ``missing`` must each
sum to 1 (within 0.01).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any

from matching.comparisons import COMPARISONS, Comparison
from matching.errors import InvalidModel, Problem

__all__ = ["LevelParameters", "ComparisonParameters", "MatchModel", "load_default_model"]

_SUM_TOLERANCE = 0.01


@dataclass(frozen=True, slots=True)
class LevelParameters:
    """One level of a comparison in a model.

    Attributes:
        label: the level's label, as declared by the comparison.
        m: probability of this level when the records are the same person; ``None`` for
            the missing level.
        u: probability of this level when they are different people; ``None`` for missing.
        description: why these values, for people reading the model.
    """

    label: str
    m: float | None = None
    u: float | None = None
    description: str = ""

    @property
    def weight(self) -> float:
        """The match weight ``log2(m / u)``; 0 for the missing level."""
        if self.m is None or self.u is None:
            return 0.0
        return math.log2(self.m / self.u)


@dataclass(frozen=True, slots=True)
class ComparisonParameters:
    """The levels of one comparison in a model, in the comparison's order."""

    name: str
    levels: tuple[LevelParameters, ...]
    description: str = ""

    @property
    def labels(self) -> tuple[str, ...]:
        """The level labels in order."""
        return tuple(level.label for level in self.levels)

    @property
    def weights(self) -> tuple[float, ...]:
        """The level weights in order."""
        return tuple(level.weight for level in self.levels)


@dataclass(frozen=True, slots=True)
class MatchModel:
    """A checked, immutable match model. Build it with :meth:`from_dict`.

    Attributes:
        version: the model's version string, recorded with every link decision.
        prior: λ, the probability that two records taken at random are the same person.
        thresholds: ``{"link": p, "review": p}``: the match probability at or above which a
            pair is linked automatically (when no safety flag forbids it), and at or above
            which it goes to human review.
        comparisons: the parameters of every declared comparison, in declared order.
        description: free text about the model.
    """

    version: str
    prior: float
    thresholds: Mapping[str, float]
    comparisons: tuple[ComparisonParameters, ...]
    description: str = ""
    prior_records: int | None = None
    """The index size ``prior`` was set for; ``None`` when the prior was measured on the
    data (a trained model). Scoring scales a set prior to the index's real size."""
    prior_weight: float = field(init=False, repr=False, compare=False)
    """``log2(prior / (1 - prior))``, the prior as a weight."""
    weights: tuple[tuple[float, ...], ...] = field(init=False, repr=False, compare=False)
    """Level weights per comparison, indexed like :func:`matching.comparisons.compare`."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "thresholds", MappingProxyType(dict(self.thresholds)))
        object.__setattr__(self, "prior_weight", math.log2(self.prior / (1.0 - self.prior)))
        object.__setattr__(self, "weights", tuple(c.weights for c in self.comparisons))

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> MatchModel:
        """Check a model document and build the model.

        Args:
            document: the parsed JSON document (see the module docstring for its shape).

        Returns:
            The model.

        Raises:
            InvalidModel: listing every problem, each with its path in the document, e.g.
                ``comparisons.given_name.levels[2].m must be in (0, 1]``.

        Example:
            >>> model = MatchModel.from_dict(load_default_model().to_dict())
            >>> model.thresholds["link"]
            0.999
        """
        problems: list[Problem] = []
        if not isinstance(document, Mapping):
            raise InvalidModel([Problem("(document)", "must be a JSON object")])

        version = document.get("version")
        if not isinstance(version, str) or not version.strip():
            problems.append(Problem("version", "must be a non-empty string"))
        description = document.get("description", "")
        if not isinstance(description, str):
            problems.append(Problem("description", "must be a string"))
            description = ""

        prior = document.get("prior")
        if not _is_number(prior) or not 0.0 < prior < 1.0:
            problems.append(Problem("prior", f"must be a number in (0, 1), got {prior!r}"))

        prior_records = document.get("prior_records")
        if prior_records is not None and (
            not isinstance(prior_records, int)
            or isinstance(prior_records, bool)
            or prior_records < 1
        ):
            problems.append(
                Problem("prior_records", f"must be a whole number >= 1, got {prior_records!r}")
            )
        thresholds = _thresholds(document.get("thresholds"), problems)
        comparisons = _comparisons(document.get("comparisons"), problems)
        if problems:
            raise InvalidModel(problems)
        return cls(
            version=str(version),
            prior=float(prior),
            thresholds=thresholds,
            comparisons=comparisons,
            description=description,
            prior_records=prior_records,
        )

    def to_dict(self) -> dict[str, Any]:
        """The model as a JSON-ready document that :meth:`from_dict` accepts.

        Example:
            >>> load_default_model().to_dict()["thresholds"]
            {'link': 0.999, 'review': 0.5}
        """
        document: dict[str, Any] = {
            "version": self.version,
            "description": self.description,
            "prior": self.prior,
            "thresholds": dict(self.thresholds),
            "comparisons": {
                c.name: {
                    "description": c.description,
                    "levels": [_level_dict(level) for level in c.levels],
                }
                for c in self.comparisons
            },
        }
        if self.prior_records is not None:
            document["prior_records"] = self.prior_records
        return document

    def comparison(self, name: str) -> ComparisonParameters:
        """The parameters of one comparison by name.

        Raises:
            KeyError: when the model has no such comparison.
        """
        for c in self.comparisons:
            if c.name == name:
                return c
        raise KeyError(name)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _level_dict(level: LevelParameters) -> dict[str, Any]:
    out: dict[str, Any] = {"label": level.label}
    if level.m is not None:
        out["m"] = level.m
        out["u"] = level.u
    if level.description:
        out["description"] = level.description
    return out


def _thresholds(raw: Any, problems: list[Problem]) -> dict[str, float]:
    if not isinstance(raw, Mapping):
        problems.append(Problem("thresholds", 'must be an object {"link": p, "review": p}'))
        return {}
    out: dict[str, float] = {}
    for key in ("link", "review"):
        value = raw.get(key)
        if not _is_number(value) or not 0.0 < value < 1.0:
            problems.append(Problem(f"thresholds.{key}", f"must be in (0, 1), got {value!r}"))
        else:
            out[key] = float(value)
    for key in raw:
        if key not in ("link", "review"):
            problems.append(Problem(f"thresholds.{key}", "is not a known threshold"))
    if len(out) == 2 and out["review"] > out["link"]:
        problems.append(Problem("thresholds.review", "must not be above thresholds.link"))
    return out


def _comparisons(raw: Any, problems: list[Problem]) -> tuple[ComparisonParameters, ...]:
    if not isinstance(raw, Mapping):
        problems.append(Problem("comparisons", "must be an object keyed by comparison name"))
        return ()
    declared = {c.name for c in COMPARISONS}
    for name in raw:
        if name not in declared:
            problems.append(
                Problem(f"comparisons.{name}", f"is not a declared comparison {sorted(declared)}")
            )
    out = []
    for comparison in COMPARISONS:
        path = f"comparisons.{comparison.name}"
        entry = raw.get(comparison.name)
        if entry is None and comparison.optional:
            out.append(_defaulted(comparison))
            continue
        if not isinstance(entry, Mapping):
            problems.append(Problem(path, "is missing (must be an object with levels)"))
            continue
        levels = _levels(path, comparison.labels, entry.get("levels"), problems)
        description = entry.get("description", "")
        if not isinstance(description, str):
            problems.append(Problem(f"{path}.description", "must be a string"))
            description = ""
        out.append(ComparisonParameters(comparison.name, levels, description))
    return tuple(out)


#: The description of a comparison a model file lacks, which takes its defaults.
DEFAULTED = "not in the model file: the comparison's declared defaults"


def _defaulted(comparison: Comparison) -> ComparisonParameters:
    """An optional comparison a model file lacks, with its declared default m and u."""
    levels = [LevelParameters(comparison.labels[0])]
    for label, (m, u) in zip(comparison.labels[1:], comparison.default_parameters(), strict=True):
        levels.append(LevelParameters(label, m, u, "default"))
    return ComparisonParameters(comparison.name, tuple(levels), DEFAULTED)


def _levels(
    path: str, labels: tuple[str, ...], raw: Any, problems: list[Problem]
) -> tuple[LevelParameters, ...]:
    if not isinstance(raw, list):
        problems.append(Problem(f"{path}.levels", "must be a list of levels"))
        return ()
    got = [level.get("label") if isinstance(level, Mapping) else None for level in raw]
    if tuple(got) != labels:
        problems.append(
            Problem(f"{path}.levels", f"must have the labels {list(labels)} in order, got {got}")
        )
        return ()
    out = []
    sums = {"m": 0.0, "u": 0.0}
    found = len(problems)
    for index, level in enumerate(raw):
        where = f"{path}.levels[{index}]"
        description = level.get("description", "")
        if not isinstance(description, str):
            problems.append(Problem(f"{where}.description", "must be a string"))
            description = ""
        if index == 0:
            for key in ("m", "u"):
                if level.get(key) is not None:
                    problems.append(
                        Problem(f"{where}.{key}", "must not be set: missing always weighs 0")
                    )
            out.append(LevelParameters(labels[0], None, None, description))
            continue
        values = {}
        for key in ("m", "u"):
            value = level.get(key)
            if not _is_number(value) or not 0.0 < value <= 1.0:
                problems.append(Problem(f"{where}.{key}", f"must be in (0, 1], got {value!r}"))
            else:
                values[key] = float(value)
                sums[key] += value
        out.append(LevelParameters(labels[index], values.get("m"), values.get("u"), description))
    for key, total in sums.items():
        if len(problems) == found and abs(total - 1.0) > _SUM_TOLERANCE:
            problems.append(
                Problem(
                    f"{path}.levels",
                    f"{key} over the levels other than missing must sum to 1, got {total:.4f}",
                )
            )
    return tuple(out)


def load_default_model() -> MatchModel:
    """The default model packaged with the engine (``matching/data/default_model.json``).

    Example:
        >>> load_default_model().version
        'default-1'
    """
    text = resources.files("matching").joinpath("data/default_model.json").read_text("utf-8")
    return MatchModel.from_dict(json.loads(text))
