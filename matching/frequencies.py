"""Term-frequency adjustment: agreeing on a common name counts less than on a rare one.

For an ``exact`` agreement on value *v*, the chance that two different people agree is
the share of records holding *v* (``tf_v``), not the model's average ``u``. The weight is
shifted by ``log2(u / tf_v)``: negative for SMITH, positive for OKONKWO-BAPTISTE. The shift
is bounded (``max_shift`` bits) and not applied while the index is too small for its
frequencies to mean anything (``min_total`` records).

Postcodes are adjusted the same way (many strangers share the postcode of a care home, a
block of flats or student halls), but only ever downwards (``max_postcode_gain``, 0 bits by
default): the members of a household share a rare postcode as surely as a common one, so
rarity is no extra evidence that two records at it are one person, while crowding is
evidence that they may be strangers. Letting rare postcodes gain raised the review queue by
a fifth for no recall (bench/RESULTS.md, "Postcode term frequencies").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from matching.model import MatchModel
from matching.types import NormalisedRecord

__all__ = ["TermFrequencies"]

ADJUSTED = ("given_name", "family_name", "postcode")
"""The comparisons whose ``exact`` level :meth:`TermFrequencies.adjust` shifts."""


def _exact_u(model: MatchModel, comparison: str) -> float:
    for level in model.comparison(comparison).levels:
        if level.label == "exact" and level.u is not None:
            return level.u
    raise ValueError(f"the model has no u for {comparison}.exact")


def _optional_exact_u(model: MatchModel, comparison: str) -> float | None:
    try:
        return _exact_u(model, comparison)
    except (KeyError, ValueError):
        return None


def _shared_given(a: NormalisedRecord, b: NormalisedRecord) -> str | None:
    if a.given_names and b.given_names and a.given_names[0] == b.given_names[0]:
        return a.given_names[0]
    common = set(a.given_names) & set(b.given_names)
    return min(common) if common else None


@dataclass(frozen=True, slots=True)
class TermFrequencies:
    """Name and postcode counts over the index, used as a :class:`~matching.scoring.WeightAdjuster`.

    Attributes:
        total: active records in the index.
        given: records per first given name.
        family: records per family name.
        u_given: the model's ``u`` for ``given_name.exact``.
        u_family: the model's ``u`` for ``family_name.exact``.
        postcode: records per postcode.
        u_postcode: the model's ``u`` for ``postcode.exact``; ``None`` means no postcode
            adjustment.
        min_total: below this many records no adjustment is made.
        max_shift: the largest shift, in bits, either way.
        max_postcode_gain: the largest upward shift, in bits, of a postcode agreement.
    """

    total: int
    given: Mapping[str, int]
    family: Mapping[str, int]
    u_given: float
    u_family: float
    postcode: Mapping[str, int] = field(default_factory=dict)
    u_postcode: float | None = None
    prior_records: int | None = None
    min_total: int = 2000
    max_shift: float = 5.0
    max_postcode_gain: float = 0.0
    _log_total: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "given", MappingProxyType(dict(self.given)))
        object.__setattr__(self, "family", MappingProxyType(dict(self.family)))
        object.__setattr__(self, "postcode", MappingProxyType(dict(self.postcode)))
        object.__setattr__(self, "_log_total", math.log2(max(self.total, 1)))

    @classmethod
    def build(
        cls,
        model: MatchModel,
        total: int,
        given: Mapping[str, int],
        family: Mapping[str, int],
        postcode: Mapping[str, int] | None = None,
        **options: float,
    ) -> TermFrequencies:
        """Counts plus the model's average ``u`` for exact name and postcode agreement.

        Example:
            >>> from matching.model import load_default_model
            >>> tf = TermFrequencies.build(load_default_model(), 10, {}, {})
            >>> tf.total
            10
        """
        return cls(
            total=total,
            given=given,
            family=family,
            u_given=_exact_u(model, "given_name"),
            u_family=_exact_u(model, "family_name"),
            postcode=postcode or {},
            u_postcode=_optional_exact_u(model, "postcode"),
            prior_records=model.prior_records,
            **options,  # type: ignore[arg-type]
        )

    @property
    def prior_shift(self) -> float:
        """Bits to add to the prior: a set prior scaled from ``prior_records`` to the index.

        The chance that two records taken at random are one person falls as the index
        grows (about (records per person - 1) / records). Bounded to +-6 bits; 0 for a
        trained model (its prior was measured) or an index under ``min_total`` records.
        """
        if self.prior_records is None or self.total < self.min_total:
            return 0.0
        return max(-6.0, min(6.0, math.log2(self.prior_records / self.total)))

    def shift(self, comparison: str, value: str | None) -> float:
        """The weight shift, in bits, for an exact agreement on ``value``.

        ``comparison`` is ``given_name``, ``family_name`` or ``postcode``; any other has no
        shift.
        """
        if value is None or self.total < self.min_total:
            return 0.0
        u: float | None
        if comparison == "family_name":
            counts, u = self.family, self.u_family
        elif comparison == "given_name":
            counts, u = self.given, self.u_given
        elif comparison == "postcode":
            counts, u = self.postcode, self.u_postcode
        else:
            return 0.0
        if u is None:
            return 0.0
        count = max(counts.get(value, 0), 2)  # both records of the pair hold it
        shift = math.log2(u) - (math.log2(count) - self._log_total)
        ceiling = self.max_postcode_gain if comparison == "postcode" else self.max_shift
        return max(-self.max_shift, min(ceiling, shift))

    def adjust(
        self,
        comparison: str,
        level: str,
        weight: float,
        a: NormalisedRecord,
        b: NormalisedRecord,
    ) -> float:
        """The weight of ``level`` for this pair: shifted for an exact name or postcode
        agreement."""
        if level != "exact" or comparison not in ADJUSTED:
            return weight
        if comparison == "family_name":
            value = a.family_name
        elif comparison == "postcode":
            value = a.postcode
        else:
            value = _shared_given(a, b)
        return weight + self.shift(comparison, value)
