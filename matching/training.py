"""Training a match model from unlabelled records: u by random sampling, m by EM.

The method is Splink's (Fellegi–Sunter with expectation–maximisation):

1. **u** (the chance a level applies to two *different* people) is counted on random
   record pairs: nearly all of them are different people, so the level frequencies among
   them are u. The sample is seeded and large (a million pairs by default).
2. **m** (the chance a level applies to the *same* person) is estimated by EM on candidate
   pairs from the blocking keys, with u held fixed. One EM session is run per training
   rule, a family of blocking keys (``dob+fam``, ``pc+fam``…); the comparisons a rule forces
   to agree are left out of its session, since its pairs agree on them whatever the truth.
   Each comparison's m is the mean over the sessions that could train it (round-robin).
3. The **prior** (λ, the chance two records taken at random are the same person) is the
   expected number of matches among all candidate pairs, from the trained model, divided
   by the number of record pairs.
4. **u again, without the matches.** Random pairs of a regional index hold about λ true
   matches, which is more than the pairs of different people agreeing on an NHS number
   or a birth date by chance. So u is counted a second time with each random pair
   weighted by its chance of being a non-match under the model of steps 1 to 3, and m
   and the prior are estimated again with it.

Decided pairs (reviewers' links and no-match assertions) are labels: where there are
enough labelled matches they give m (:func:`supervised_m`, EM's m elsewhere), the link
threshold is kept above every labelled non-match, and :func:`check_labels` says how the
trained model scores them. :func:`threshold_curve` gives the expected
precision and recall of each threshold from the model's own match probabilities, and
:func:`suggest_thresholds` picks the link threshold for a target false-merge rate.

Everything works on an integer matrix of comparison vectors, one row per pair (see
:func:`comparison_matrix`); EM itself runs on the distinct rows with their counts, so its
cost does not grow with the number of pairs.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from matching.blocking import blocking_keys
from matching.comparisons import COMPARISONS, compare
from matching.model import MatchModel, load_default_model
from matching.types import NormalisedRecord

__all__ = [
    "TRAINING_RULES",
    "EMResult",
    "LabelCheck",
    "ThresholdPoint",
    "TrainingOptions",
    "TrainingResult",
    "blocked_pairs",
    "check_labels",
    "comparison_matrix",
    "estimate_m",
    "estimate_u",
    "match_probabilities",
    "match_weights",
    "random_pairs",
    "rule_pairs",
    "suggest_thresholds",
    "supervised_m",
    "threshold_curve",
    "train",
]

IntMatrix = npt.NDArray[np.int8]
FloatArray = npt.NDArray[np.float64]

_NAMES = tuple(c.name for c in COMPARISONS)
_LEVELS = tuple(len(c.levels) for c in COMPARISONS)
_FLOOR = 1e-6  # no m or u below this: a level never seen still keeps a finite weight


def _key_birth_family(r: NormalisedRecord) -> str | None:
    if r.birth_date is None or not r.family_phonetic:
        return None
    return f"{r.birth_date.isoformat()}:{r.family_phonetic}"


def _key_birth_given(r: NormalisedRecord) -> str | None:
    if r.birth_date is None or not r.given_phonetic:
        return None
    return f"{r.birth_date.isoformat()}:{r.given_phonetic}"


def _key_given_family(r: NormalisedRecord) -> str | None:
    if not r.given_names or not r.family_name:
        return None
    return f"{r.given_names[0]}:{r.family_name}"


def _key_nhs(r: NormalisedRecord) -> str | None:
    return r.nhs_number


def _key_postcode(r: NormalisedRecord) -> str | None:
    return r.postcode


RULE_KEYS: Mapping[str, Callable[[NormalisedRecord], str | None]] = {
    "birth_date+family_name": _key_birth_family,
    "birth_date+given_name": _key_birth_given,
    "given_name+family_name": _key_given_family,
    "nhs_number": _key_nhs,
    "postcode": _key_postcode,
}
"""Training-only blocking rules: name -> the record's key (``None``: no key)."""

TRAINING_RULES: Mapping[str, tuple[str, ...]] = {
    "birth_date+family_name": ("birth_date", "family_name"),
    "birth_date+given_name": ("birth_date", "given_name"),
    "given_name+family_name": ("given_name", "family_name"),
    "nhs_number": ("nhs_number",),
}
"""EM sessions: a rule of :data:`RULE_KEYS` and the comparisons its pairs agree on.

Together they leave every comparison free in at least one session: given name in
``birth_date+family_name``, family name in ``birth_date+given_name``, birth date in
``given_name+family_name``, and every other comparison in all of them.
"""

CONDITIONAL_U: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "address": ("postcode", ("exact", "token_set_high")),
    "phone": ("postcode", ("exact",)),
}
"""Comparisons whose u is measured among pairs agreeing on another field.

People of one household share postcode, address and phone, so for different people
these agreements are not independent, as Fellegi–Sunter assumes: summing their
random-pair weights would make two members of a household look like one person. The u
of their agreement levels (named here) is therefore the level frequency among pairs of
*different* people (different birth date and given name) who share a postcode: what the
address or phone adds once the postcode agrees. The else level takes the remainder.
"""

HOUSEHOLD: frozenset[str] = frozenset({"postcode", "address", "phone"})
"""Comparisons that people of one household share; in EM their m is estimated from the
posteriors of the other comparisons but they do not vote, so that a household is not
taken for one person."""


@dataclass(frozen=True, slots=True)
class TrainingOptions:
    """How to train.

    Attributes:
        seed: seed of the random pair sample (the same seed gives the same model).
        u_pairs: random pairs sampled for u (default 1,000,000; fewer when the data has
            fewer pairs).
        conditional_pairs: pairs sharing a postcode sampled for the u of address and
            phone given the postcode (:data:`CONDITIONAL_U`; default 200,000).
        max_block: blocking keys shared by more records than this are skipped in EM (the
            ``blocking_cap`` of matching).
        max_pairs_per_rule: candidate pairs per EM session, sampled when there are more.
        max_iterations: EM iterations per session at most.
        tolerance: EM stops when no m changes by more than this.
        rules: training rules, blocking-key prefix to forced comparisons; ``None`` means
            :data:`TRAINING_RULES`.
        use_labels: whether decided pairs train m (:func:`supervised_m`) and keep the
            link threshold above every labelled non-match (default ``True``); with
            ``False`` they are only checked.
    """

    seed: int = 1
    u_pairs: int = 1_000_000
    conditional_pairs: int = 200_000
    max_block: int = 200
    max_pairs_per_rule: int = 500_000
    max_iterations: int = 40
    tolerance: float = 1e-4
    rules: Mapping[str, tuple[str, ...]] | None = None
    use_labels: bool = True


@dataclass(frozen=True, slots=True)
class EMResult:
    """One EM session on one rule's candidate pairs.

    Attributes:
        rule: the blocking-key prefix.
        pairs: candidate pairs used.
        trained: the comparisons whose m this session estimated.
        m: comparison name -> m per level (index 0, missing, is 0).
        match_share: the estimated share of matches among the session's pairs.
        iterations: EM iterations run.
        converged: whether the tolerance was reached.
    """

    rule: str
    pairs: int
    trained: tuple[str, ...]
    m: Mapping[str, tuple[float, ...]]
    match_share: float
    iterations: int
    converged: bool


@dataclass(frozen=True, slots=True)
class ThresholdPoint:
    """Expected pairwise quality when pairs at or above ``threshold`` are linked.

    Attributes:
        threshold: the match probability threshold.
        pairs: candidate pairs at or above it.
        precision: expected share of them that are true matches.
        recall: expected share of all matches among candidates that are at or above it.
        false_merge_rate: ``1 - precision``.
    """

    threshold: float
    pairs: int
    precision: float
    recall: float
    false_merge_rate: float


@dataclass(frozen=True, slots=True)
class LabelCheck:
    """How a model scores decided pairs (reviewers' links and no-match assertions).

    Attributes:
        matches: labelled matches.
        non_matches: labelled non-matches.
        matches_linked: labelled matches at or above the link threshold.
        matches_reviewed: labelled matches between the review and link thresholds.
        non_matches_linked: labelled non-matches at or above the link threshold.
        non_matches_reviewed: labelled non-matches between review and link thresholds.
        precision: of labelled pairs at or above the link threshold, the share that
            match; ``None`` when none is.
        recall: of labelled matches, the share at or above the link threshold; ``None``
            when there are no labelled matches.
    """

    matches: int
    non_matches: int
    matches_linked: int
    matches_reviewed: int
    non_matches_linked: int
    non_matches_reviewed: int
    precision: float | None
    recall: float | None


@dataclass(frozen=True, slots=True)
class TrainingResult:
    """A trained model and how it was trained.

    Attributes:
        model: the trained model (thresholds suggested by :func:`suggest_thresholds`).
        records: records trained on.
        u_pairs: random pairs counted for u.
        sessions: the EM sessions, one per rule with candidate pairs.
        candidate_pairs: distinct candidate pairs over all rules.
        expected_matches: expected true matches among them.
        curve: the expected precision/recall trade-off (see :func:`threshold_curve`).
        labels: how the model scores decided pairs; ``None`` when none were given.
    """

    model: MatchModel
    records: int
    u_pairs: int
    sessions: tuple[EMResult, ...]
    candidate_pairs: int
    expected_matches: float
    curve: tuple[ThresholdPoint, ...]
    labels: LabelCheck | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary of the training, stored with the model version.

        Example:
            >>> result = train([NormalisedRecord(sex="male")] * 3)
            >>> result.summary()["records"]
            3
        """
        return {
            "records": self.records,
            "u_pairs": self.u_pairs,
            "candidate_pairs": self.candidate_pairs,
            "expected_matches": round(self.expected_matches, 1),
            "prior": self.model.prior,
            "thresholds": dict(self.model.thresholds),
            "sessions": [
                {
                    "rule": s.rule,
                    "pairs": s.pairs,
                    "trained": list(s.trained),
                    "match_share": round(s.match_share, 6),
                    "iterations": s.iterations,
                    "converged": s.converged,
                }
                for s in self.sessions
            ],
            "curve": [
                {
                    "threshold": p.threshold,
                    "pairs": p.pairs,
                    "precision": round(p.precision, 6),
                    "recall": round(p.recall, 6),
                }
                for p in self.curve
            ],
            "labels": None
            if self.labels is None
            else {k: getattr(self.labels, k) for k in LabelCheck.__dataclass_fields__},
            **self.extra,
        }


# --------------------------------------------------------------------------- pairs


def comparison_matrix(
    records: Sequence[NormalisedRecord], pairs: npt.NDArray[np.int64] | Sequence[tuple[int, int]]
) -> IntMatrix:
    """The comparison vectors of many pairs as one integer matrix.

    Args:
        records: the records, indexed by the pairs.
        pairs: ``(n, 2)`` record indexes.

    Returns:
        An ``(n, len(COMPARISONS))`` ``int8`` matrix: row *i* is
        ``compare(records[a_i], records[b_i])``.

    Example:
        >>> comparison_matrix([NormalisedRecord(sex="male")] * 2, [(0, 1)]).tolist()
        [[0, 0, 0, 0, 1, 0, 0, 0]]
    """
    index = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    rows = [compare(records[a], records[b]) for a, b in index.tolist()]
    if not rows:
        return np.zeros((0, len(COMPARISONS)), dtype=np.int8)
    return np.asarray(rows, dtype=np.int8)


def random_pairs(n: int, count: int, seed: int) -> npt.NDArray[np.int64]:
    """Distinct-record random pairs ``(a, b)`` with ``a != b``, seeded.

    Args:
        n: number of records.
        count: pairs wanted; at most ``n * (n - 1) / 2`` distinct pairs exist, so fewer
            come back for tiny inputs.
        seed: random seed.

    Example:
        >>> random_pairs(10, 5, seed=1).shape
        (5, 2)
    """
    if n < 2 or count <= 0:
        return np.zeros((0, 2), dtype=np.int64)
    count = min(count, n * (n - 1) // 2)
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, size=count, dtype=np.int64)
    b = rng.integers(0, n - 1, size=count, dtype=np.int64)
    b = np.where(b >= a, b + 1, b)  # uniform over the other n - 1 records
    return np.stack([a, b], axis=1)


def blocked_pairs(keys: Sequence[Iterable[str]], max_block: int) -> npt.NDArray[np.int64]:
    """Distinct record pairs sharing at least one key.

    Args:
        keys: each record's keys: a training rule's key (see :data:`RULE_KEYS`) or the
            matching blocking keys (:func:`matching.blocking.blocking_keys`).
        max_block: keys held by more records than this are skipped.

    Returns:
        ``(n, 2)`` indexes with ``a < b``, sorted.

    Example:
        >>> blocked_pairs([{"nhs:1"}, {"nhs:1"}, {"nhs:2"}], 10).tolist()
        [[0, 1]]
    """
    groups: dict[str, list[int]] = defaultdict(list)
    for index, record_keys in enumerate(keys):
        for key in record_keys:
            groups[key].append(index)
    chunks = []
    for members in groups.values():
        if 1 < len(members) <= max_block:
            m = np.asarray(members, dtype=np.int64)
            i, j = np.triu_indices(len(m), k=1)
            chunks.append(np.stack([m[i], m[j]], axis=1))
    if not chunks:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.concatenate(chunks)
    n = len(keys)
    codes = np.unique(pairs[:, 0] * n + pairs[:, 1])  # a pair as one integer: faster
    return np.stack([codes // n, codes % n], axis=1)


def rule_pairs(
    records: Sequence[NormalisedRecord], rule: str, max_block: int
) -> npt.NDArray[np.int64]:
    """Pairs of records sharing the key of a training rule (:data:`RULE_KEYS`).

    Example:
        >>> rule_pairs([NormalisedRecord(nhs_number="9990000018")] * 2, "nhs_number", 10)
        array([[0, 1]])
    """
    key = RULE_KEYS[rule]
    keys = []
    for record in records:
        value = key(record)
        keys.append((value,) if value else ())
    return blocked_pairs(keys, max_block)


# --------------------------------------------------------------------------- estimation


def _frequencies(column: npt.NDArray[Any], levels: int, weights: FloatArray | None) -> FloatArray:
    counts = np.bincount(column, weights=weights, minlength=levels).astype(np.float64)
    counts[0] = 0.0  # missing is not estimated
    total = counts.sum()
    if total <= 0:
        return np.full(levels, 1.0 / max(levels - 1, 1)) * (np.arange(levels) > 0)
    return counts / total


def _floored(p: FloatArray) -> FloatArray:
    out = p.copy()
    out[1:] = np.maximum(out[1:], _FLOOR)
    out[1:] /= out[1:].sum()
    out[0] = 0.0
    return out


def estimate_u(matrix: IntMatrix) -> dict[str, FloatArray]:
    """u per comparison level: level frequencies among (random, so non-matching) pairs.

    Args:
        matrix: comparison vectors of random pairs.

    Returns:
        Comparison name -> u per level (index 0, missing, is 0; the others sum to 1).

    Example:
        >>> import numpy as np
        >>> m = np.array([[0, 7, 6, 5, 2, 4, 4, 2]] * 3 + [[0, 1, 6, 5, 1, 4, 4, 2]], np.int8)
        >>> round(float(estimate_u(m)["given_name"][1]), 2)
        0.25
    """
    return {
        name: _floored(_frequencies(matrix[:, j], _LEVELS[j], None))
        for j, name in enumerate(_NAMES)
    }


def _distinct(matrix: IntMatrix) -> tuple[IntMatrix, FloatArray]:
    """The distinct rows of a comparison matrix, sorted, with their counts."""
    if len(matrix) == 0:
        return matrix, np.zeros(0)
    # Each row as one integer (4 bits a level), which np.unique sorts far faster than rows.
    shifts = np.arange(matrix.shape[1] - 1, -1, -1, dtype=np.int64) * 4
    codes = (matrix.astype(np.int64) << shifts).sum(axis=1)
    _, first, counts = np.unique(codes, return_index=True, return_counts=True)
    return matrix[first].astype(np.int8), counts.astype(np.float64)


def _log_ratio(
    rows: IntMatrix, m: Mapping[str, FloatArray], u: Mapping[str, FloatArray], active: Sequence[int]
) -> FloatArray:
    """Sum over active comparisons of ln(m/u) of each row's level (missing adds 0)."""
    total = np.zeros(len(rows))
    for j in active:
        name = _NAMES[j]
        with np.errstate(divide="ignore"):
            table = np.log(np.maximum(m[name], _FLOOR)) - np.log(np.maximum(u[name], _FLOOR))
        table[0] = 0.0
        total += table[rows[:, j]]
    return total


def _posterior(log_ratio: FloatArray, share: float) -> FloatArray:
    logit = log_ratio + math.log(share / (1.0 - share))
    return 1.0 / (1.0 + np.exp(-np.clip(logit, -700, 700)))


def estimate_m(
    matrix: IntMatrix,
    u: Mapping[str, FloatArray],
    m_start: Mapping[str, FloatArray],
    *,
    fixed: Iterable[str] = (),
    passive: Iterable[str] = (),
    match_share: float = 0.1,
    max_iterations: int = 40,
    tolerance: float = 1e-4,
    rule: str = "",
) -> EMResult:
    """EM for m on candidate pairs, u held fixed, some comparisons left out.

    Args:
        matrix: comparison vectors of the candidate pairs.
        u: u per comparison (from :func:`estimate_u`), not changed.
        m_start: starting m per comparison (a model's m, for example).
        fixed: comparisons left out of the likelihood and not estimated (those the
            blocking rule forced to agree).
        passive: comparisons estimated but left out of the likelihood (default none;
            :func:`train` passes :data:`HOUSEHOLD`), unless nothing else would be left.
        match_share: starting share of matches among the pairs (default 0.1).
        max_iterations: at most this many iterations (default 40).
        tolerance: stop when no m moves by more than this (default 1e-4).
        rule: the rule's name, for the result.

    Returns:
        The session's estimates.

    Example:
        >>> import numpy as np
        >>> rows = np.array([[0, 1, 1, 1, 1, 1, 1, 1]] * 50 + [[0, 7, 6, 5, 2, 4, 4, 2]] * 50)
        >>> u = estimate_u(rows[50:]); u["sex"] = np.array([0, 0.5, 0.5])
        >>> result = estimate_m(rows.astype(np.int8), u, u, match_share=0.3)
        >>> round(result.match_share, 2), round(result.m["given_name"][1], 2)
        (0.5, 1.0)
    """
    skip = set(fixed)
    active = [j for j, name in enumerate(_NAMES) if name not in skip]
    quiet = set(passive)
    voting = [j for j in active if _NAMES[j] not in quiet]
    observed = [j for j in voting if len(matrix) and (matrix[:, j] > 0).any()]
    if not observed:
        voting = active
    rows, counts = _distinct(matrix)
    m = {name: _floored(np.asarray(m_start[name], dtype=np.float64)) for name in _NAMES}
    share = min(max(match_share, 1e-6), 1 - 1e-6)
    iterations, converged = 0, False
    total = counts.sum()
    while total > 0 and iterations < max_iterations:
        iterations += 1
        p = _posterior(_log_ratio(rows, m, u, voting), share)
        weights = p * counts
        share = min(max(float(weights.sum() / total), 1e-6), 1 - 1e-6)
        change = 0.0
        for j in active:
            name = _NAMES[j]
            new = _floored(_frequencies(rows[:, j], _LEVELS[j], weights))
            change = max(change, float(np.abs(new - m[name]).max()))
            m[name] = new
        if change < tolerance:
            converged = True
            break
    return EMResult(
        rule=rule,
        pairs=int(total),
        trained=tuple(_NAMES[j] for j in active),
        m={name: tuple(float(x) for x in m[name]) for name in _NAMES},
        match_share=share,
        iterations=iterations,
        converged=converged,
    )


def match_weights(model: MatchModel, matrix: IntMatrix) -> FloatArray:
    """The total match weight (bits) of each comparison vector under a model.

    Example:
        >>> import numpy as np
        >>> from matching.model import load_default_model
        >>> float(match_weights(load_default_model(), np.zeros((1, 8), np.int8))[0])
        0.0
    """
    total = np.zeros(len(matrix))
    for j, weights in enumerate(model.weights):
        total += np.asarray(weights)[matrix[:, j]]
    return total


def match_probabilities(model: MatchModel, matrix: IntMatrix) -> FloatArray:
    """The match probability of every pair of a comparison matrix under ``model``.

    Unadjusted by term frequencies and without safety findings: what the model's m, u
    and prior alone say.
    """
    logit = (match_weights(model, matrix) + model.prior_weight) * math.log(2.0)
    return 1.0 / (1.0 + np.exp(-np.clip(logit, -700, 700)))


_probabilities = match_probabilities


# --------------------------------------------------------------------------- thresholds

CURVE_THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999)


def threshold_curve(
    probabilities: FloatArray, thresholds: Sequence[float] = CURVE_THRESHOLDS
) -> tuple[ThresholdPoint, ...]:
    """Expected precision and recall per threshold, from the model's own probabilities.

    Each candidate pair counts as ``p`` of a match, so linking the pairs at or above *t*
    is expected to find ``sum(p)`` matches and ``sum(1 - p)`` false ones among them.

    Args:
        probabilities: match probabilities of the candidate pairs.
        thresholds: the thresholds to report (default :data:`CURVE_THRESHOLDS`).

    Example:
        >>> import numpy as np
        >>> point = threshold_curve(np.array([0.99, 0.6, 0.01]), [0.5])[0]
        >>> round(point.precision, 3), round(point.recall, 3)
        (0.795, 0.994)
    """
    p = np.asarray(probabilities, dtype=np.float64)
    expected = float(p.sum())
    out = []
    for t in thresholds:
        chosen = p[p >= t]
        tp = float(chosen.sum())
        precision = tp / len(chosen) if len(chosen) else 1.0
        recall = tp / expected if expected > 0 else 1.0
        out.append(ThresholdPoint(float(t), len(chosen), precision, recall, 1.0 - precision))
    return tuple(out)


def suggest_thresholds(
    probabilities: FloatArray,
    *,
    false_merge_rate: float = 0.001,
    review_recall: float = 0.995,
) -> dict[str, float]:
    """Link and review thresholds for a target false-merge rate.

    Args:
        probabilities: match probabilities of the candidate pairs.
        false_merge_rate: the largest expected share of false links among automatic
            links (default 0.001, one in a thousand).
        review_recall: the review threshold is the highest one at which links and review
            together are still expected to find this share of matches (default 0.995).

    Returns:
        ``{"link": p, "review": p}``, review at most link; both from a fixed grid between
        0.5 and 0.99999 for link and 0.01 and link for review.

    Example:
        >>> import numpy as np
        >>> suggest_thresholds(np.array([0.9999] * 99 + [0.3]))["link"] < 0.9999
        True
    """
    p = np.sort(np.asarray(probabilities, dtype=np.float64))[::-1]
    grid = sorted({*CURVE_THRESHOLDS, 0.5, 0.6, 0.75, 0.9, 0.98, 0.999, 0.9995, 0.99999})
    link = 0.99999
    for t in (x for x in grid if x >= 0.5):
        chosen = p[p >= t]
        if len(chosen) and 1.0 - float(chosen.mean()) <= false_merge_rate:
            link = t
            break
    expected = float(p.sum())
    review = 0.01
    for t in sorted((x for x in grid if 0.01 <= x <= link), reverse=True):
        if expected <= 0 or float(p[p >= t].sum()) / expected >= review_recall:
            review = t
            break
    return {"link": link, "review": min(review, link)}


# --------------------------------------------------------------------------- labels


def check_labels(
    model: MatchModel, matrix: IntMatrix, is_match: Sequence[bool] | npt.NDArray[np.bool_]
) -> LabelCheck:
    """How a model scores decided pairs.

    Args:
        model: the model (its thresholds are used).
        matrix: comparison vectors of the decided pairs.
        is_match: for each pair, whether it was decided to be the same person.

    Example:
        >>> import numpy as np
        >>> from matching.model import load_default_model
        >>> rows = np.array([[1, 1, 1, 1, 1, 1, 1, 1], [3, 7, 6, 5, 2, 4, 4, 2]], np.int8)
        >>> check_labels(load_default_model(), rows, [True, False]).precision
        1.0
    """
    labels = np.asarray(is_match, dtype=bool)
    p = _probabilities(model, matrix) if len(matrix) else np.zeros(0)
    link, review = model.thresholds["link"], model.thresholds["review"]
    linked, reviewed = p >= link, (p >= review) & (p < link)
    tp = int((linked & labels).sum())
    fp = int((linked & ~labels).sum())
    matches = int(labels.sum())
    return LabelCheck(
        matches=matches,
        non_matches=int((~labels).sum()),
        matches_linked=tp,
        matches_reviewed=int((reviewed & labels).sum()),
        non_matches_linked=fp,
        non_matches_reviewed=int((reviewed & ~labels).sum()),
        precision=tp / (tp + fp) if tp + fp else None,
        recall=tp / matches if matches else None,
    )


#: Labelled matches with a level (not missing) a comparison needs before its m is taken
#: from the labels; with fewer, EM's estimate stands.
MIN_LABELLED_MATCHES = 20
#: EM's estimate of m counts as this many pairs beside the labelled ones: decided pairs
#: are the hard cases (a reviewer sees only what matching could not settle), so they move
#: m towards the levels that they land on without replacing what EM found on all pairs.
LABEL_PRIOR_PAIRS = 50.0


def supervised_m(
    matrix: IntMatrix,
    is_match: Sequence[bool] | npt.NDArray[np.bool_],
    em_m: Mapping[str, FloatArray],
) -> tuple[dict[str, FloatArray], dict[str, int]]:
    """m from reviewers' labels where there are enough of them, EM's m elsewhere.

    For each comparison with at least :data:`MIN_LABELLED_MATCHES` labelled matches that
    have a level, m is the level frequencies among them, with EM's estimate counted as
    :data:`LABEL_PRIOR_PAIRS` further pairs (Splink's m from a label column, smoothed). u
    is not taken from labels: labelled non-matches are the hard cases, not a sample of
    different people, and u comes from random pairs, which are.

    Args:
        matrix: comparison vectors of the decided pairs.
        is_match: for each pair, whether it was decided to be the same person.
        em_m: m per comparison from EM.

    Returns:
        m per comparison, and per comparison the labelled matches used (only those whose
        m came from labels).

    Example:
        >>> import numpy as np
        >>> rows = np.array([[1, 5, 1, 1, 1, 1, 1, 1]] * 30, np.int8)
        >>> em = {c.name: np.full(len(c.levels), 1 / (len(c.levels) - 1)) for c in COMPARISONS}
        >>> m, used = supervised_m(rows, [True] * 30, em)
        >>> used["given_name"], bool(m["given_name"][5] > em["given_name"][5])
        (30, True)
    """
    labels = np.asarray(is_match, dtype=bool)
    out = {name: np.asarray(em_m[name], dtype=float) for name in _NAMES}
    used: dict[str, int] = {}
    if len(matrix) == 0:
        return out, used
    for j, name in enumerate(_NAMES):
        column = matrix[labels, j]
        column = column[column > 0]
        if len(column) < MIN_LABELLED_MATCHES:
            continue
        counts = np.bincount(column, minlength=_LEVELS[j]).astype(float)
        counts[0] = 0.0
        prior = np.asarray(em_m[name], dtype=float).copy()
        prior[0] = 0.0
        prior = prior / prior.sum() if prior.sum() else prior
        blended = (LABEL_PRIOR_PAIRS * prior + counts) / (LABEL_PRIOR_PAIRS + len(column))
        out[name] = _floored(blended)
        used[name] = len(column)
    return out, used


def _above_labelled_non_matches(
    thresholds: Mapping[str, float], probabilities: FloatArray
) -> dict[str, float]:
    """The link threshold raised above every labelled non-match's probability."""
    out = dict(thresholds)
    if len(probabilities):
        highest = float(probabilities.max())
        if highest >= out["link"]:
            out["link"] = min(float(np.nextafter(highest, 1.0)), 1.0 - 1e-12)
    out["review"] = min(out["review"], out["link"])
    return out


# --------------------------------------------------------------------------- training


def _model_with(
    base: MatchModel,
    m: Mapping[str, Sequence[float]],
    u: Mapping[str, Sequence[float]],
    prior: float,
    thresholds: Mapping[str, float],
    version: str,
    description: str,
) -> MatchModel:
    document = base.to_dict()
    document.update(
        version=version, description=description, prior=prior, thresholds=dict(thresholds)
    )
    for name, entry in document["comparisons"].items():
        for index, level in enumerate(entry["levels"]):
            if index == 0:
                continue
            level["m"] = round(float(m[name][index]), 8)
            level["u"] = round(float(u[name][index]), 10)
            level["description"] = "trained"
    return MatchModel.from_dict(document)


def _as_arrays(model: MatchModel) -> tuple[dict[str, FloatArray], dict[str, FloatArray]]:
    m, u = {}, {}
    for c in model.comparisons:
        m[c.name] = np.array([lv.m or 0.0 for lv in c.levels])
        u[c.name] = np.array([lv.u or 0.0 for lv in c.levels])
    return m, u


def _conditional_u(
    records: Sequence[NormalisedRecord],
    u: dict[str, FloatArray],
    options: TrainingOptions,
    cache: dict[tuple[int, int], tuple[int, ...]],
) -> dict[str, int]:
    """Replace u of :data:`CONDITIONAL_U` comparisons; return the pairs used for each."""
    used = {}
    given, birth = _NAMES.index("given_name"), _NAMES.index("birth_date")
    for name, (condition, conditioned) in CONDITIONAL_U.items():
        pairs = rule_pairs(records, condition, options.max_block)
        if len(pairs) == 0:
            continue
        if len(pairs) > options.conditional_pairs:
            rng = np.random.default_rng(options.seed + 2)
            pairs = pairs[rng.choice(len(pairs), options.conditional_pairs, replace=False)]
        matrix = _cached_matrix(records, pairs, cache)
        different = (matrix[:, given] == _LEVELS[given] - 1) & (
            matrix[:, birth] == _LEVELS[birth] - 1
        )
        j = _NAMES.index(name)
        column = matrix[different, j]
        if (column > 0).sum() < 100:  # too few pairs say nothing: keep random-pair u
            continue
        given_pc = _frequencies(column, _LEVELS[j], None)
        labels = COMPARISONS[j].labels
        new = u[name].copy()
        for index, label in enumerate(labels[1:-1], start=1):
            if label in conditioned:
                new[index] = max(new[index], given_pc[index])
        new[-1] = max(1.0 - new[1:-1].sum(), _FLOOR)
        u[name] = _floored(new)
        used[name] = int((column > 0).sum())
    return used


def _u_without_matches(
    matrix: IntMatrix,
    m: Mapping[str, FloatArray],
    u: Mapping[str, FloatArray],
    prior: float,
) -> dict[str, FloatArray]:
    """u from random pairs, each weighted by its chance of being a non-match.

    The posterior uses the comparisons that do not describe a household
    (:data:`HOUSEHOLD`), so that two people of one home are not taken for a match.

    Example:
        >>> import numpy as np
        >>> rows = np.array([[2, 1, 1, 1, 1, 1, 1, 1]] + [[3, 7, 6, 5, 2, 4, 4, 2]] * 99)
        >>> u = estimate_u(rows.astype(np.int8))
        >>> m = {k: np.where(np.arange(len(v)) == 1, 0.99, 0.01) for k, v in u.items()}
        >>> corrected = _u_without_matches(rows.astype(np.int8), m, u, prior=0.01)
        >>> bool(corrected["nhs_number"][2] < u["nhs_number"][2] / 100)
        True
    """
    rows, counts = _distinct(matrix)
    voting = [j for j, name in enumerate(_NAMES) if name not in HOUSEHOLD]
    p = _posterior(_log_ratio(rows, m, u, voting), min(max(prior, 1e-12), 0.5))
    weights = counts * (1.0 - p)
    return {
        name: _floored(_frequencies(rows[:, j], _LEVELS[j], weights))
        for j, name in enumerate(_NAMES)
    }


def _expected_share(
    matrix: IntMatrix, m: Mapping[str, FloatArray], u: Mapping[str, FloatArray], iterations: int
) -> float:
    """The share of matches among pairs, by EM on the prior alone (m and u fixed)."""
    rows, counts = _distinct(matrix)
    share = 0.1
    if counts.sum() == 0:
        return 0.0
    ratio = _log_ratio(rows, m, u, range(len(_NAMES)))
    for _ in range(iterations * 5):
        p = _posterior(ratio, share)
        new = min(max(float((p * counts).sum() / counts.sum()), 1e-9), 1 - 1e-9)
        if abs(new - share) < 1e-8:
            return new
        share = new
    return share


def train(
    records: Sequence[NormalisedRecord],
    *,
    base: MatchModel | None = None,
    options: TrainingOptions | None = None,
    labels: Sequence[tuple[int, int, bool]] = (),
    version: str = "trained",
    false_merge_rate: float = 0.0001,
) -> TrainingResult:
    """Train a model on records: u from random pairs, m by EM per rule, the prior.

    Args:
        records: the records (normalised), for example every active record in the store.
        base: the model giving the starting m values and the document's descriptions;
            ``None`` means the packaged default model.
        options: sample sizes, seed and rules; ``None`` means :class:`TrainingOptions()`.
        labels: decided pairs as ``(index_a, index_b, is_same_person)`` into ``records``:
            where there are enough labelled matches they give m (:func:`supervised_m`;
            EM's m elsewhere), the link threshold is kept above every labelled
            non-match, and the trained model is checked against them
            (:func:`check_labels`).
        version: the trained model's version string.
        false_merge_rate: target for the suggested link threshold (default 0.0001).

    Returns:
        The model and its training summary. The expected precision/recall curve and the
        thresholds are computed on the candidate pairs of the matching blocking keys
        (:func:`matching.blocking.blocking_keys`), the pairs the service scores.

    Example:
        >>> train([NormalisedRecord(sex="male")] * 3).records
        3
    """
    base = base or load_default_model()
    options = options or TrainingOptions()
    rules = dict(options.rules if options.rules is not None else TRAINING_RULES)
    n = len(records)
    cache: dict[tuple[int, int], tuple[int, ...]] = {}

    sample = random_pairs(n, options.u_pairs, options.seed)
    u_matrix = comparison_matrix(records, sample)
    base_m, base_u = _as_arrays(base)
    u = estimate_u(u_matrix) if len(u_matrix) else base_u
    conditional = _conditional_u(records, u, options, cache)

    rng = np.random.default_rng(options.seed + 1)
    rule_matrices = []
    for rule, forced in rules.items():
        pairs = rule_pairs(records, rule, options.max_block)
        if len(pairs) == 0:
            continue
        if len(pairs) > options.max_pairs_per_rule:
            pairs = pairs[rng.choice(len(pairs), options.max_pairs_per_rule, replace=False)]
        rule_matrices.append((rule, forced, _cached_matrix(records, pairs, cache)))

    candidates = blocked_pairs([blocking_keys(r) for r in records], options.max_block)
    if len(candidates) > options.max_pairs_per_rule:
        picked = rng.choice(len(candidates), options.max_pairs_per_rule, replace=False)
        scale = len(candidates) / options.max_pairs_per_rule
        candidates_used = candidates[np.sort(picked)]
    else:
        scale, candidates_used = 1.0, candidates
    candidate_matrix = _cached_matrix(records, candidates_used, cache)
    pairs_total = n * (n - 1) / 2

    # Round 1 estimates m and the prior with u from random pairs as counted. Random pairs
    # hold a few true matches (about the prior's share), which inflate u for agreement
    # levels that different people rarely reach (NHS number, birth date): round 2 counts
    # u again with each random pair weighted by its chance of being a non-match under
    # round 1's model, and re-estimates m and the prior with it.
    for round_ in range(2):
        sessions = [
            estimate_m(
                matrix,
                u,
                base_m,
                fixed=forced,
                passive=HOUSEHOLD,
                max_iterations=options.max_iterations,
                tolerance=options.tolerance,
                rule=rule,
            )
            for rule, forced, matrix in rule_matrices
        ]
        m: dict[str, FloatArray] = {}
        for name in _NAMES:
            estimates = [np.asarray(s.m[name]) for s in sessions if name in s.trained]
            m[name] = _floored(np.mean(estimates, axis=0)) if estimates else base_m[name]
        share = _expected_share(candidate_matrix, m, u, options.max_iterations)
        expected = share * len(candidates)
        prior = (
            min(max(expected / pairs_total, 1e-9), 0.5) if pairs_total and expected else base.prior
        )
        if round_ == 0 and len(u_matrix):
            u = _u_without_matches(u_matrix, m, u, prior)
            conditional = _conditional_u(records, u, options, cache)

    label_matrix = comparison_matrix(
        records, np.asarray([(a, b) for a, b, _ in labels], dtype=np.int64).reshape(-1, 2)
    )
    label_is_match = np.asarray([x for _, _, x in labels], dtype=bool)
    supervised: dict[str, int] = {}
    if labels and options.use_labels:
        m, supervised = supervised_m(label_matrix, label_is_match, m)
        share = _expected_share(candidate_matrix, m, u, options.max_iterations)
        expected = share * len(candidates)
        prior = (
            min(max(expected / pairs_total, 1e-9), 0.5) if pairs_total and expected else base.prior
        )
    provisional = _model_with(base, m, u, prior, base.thresholds, version, "")
    probabilities = _probabilities(provisional, candidate_matrix)
    thresholds = suggest_thresholds(probabilities, false_merge_rate=false_merge_rate)
    if labels and options.use_labels:
        thresholds = _above_labelled_non_matches(
            thresholds, _probabilities(provisional, label_matrix[~label_is_match])
        )
    description = (
        f"Trained on {n} records: u from {len(u_matrix)} random pairs"
        + (f" (address and phone given the postcode: {conditional})" if conditional else "")
        + f", m by EM over the {', '.join(s.rule for s in sessions) or 'no'} rules"
        + (
            f", m from {int(label_is_match.sum())} labelled matches for"
            f" {', '.join(sorted(supervised))}; link threshold above every labelled"
            " non-match."
            if supervised
            else "."
        )
    )
    model = _model_with(base, m, u, prior, thresholds, version, description)
    label_check = None
    if labels:
        label_check = check_labels(model, label_matrix, label_is_match)
    return TrainingResult(
        model=model,
        records=n,
        u_pairs=len(u_matrix),
        sessions=tuple(sessions),
        candidate_pairs=len(candidates),
        expected_matches=expected,
        curve=threshold_curve(probabilities),
        labels=label_check,
        extra={
            "candidate_sample_scale": round(scale, 3),
            "conditional_u_pairs": conditional,
            "supervised_m": supervised,
        },
    )


def _cached_matrix(
    records: Sequence[NormalisedRecord],
    pairs: npt.NDArray[np.int64],
    cache: dict[tuple[int, int], tuple[int, ...]],
) -> IntMatrix:
    """Like :func:`comparison_matrix`, remembering vectors already computed."""
    rows = []
    for a, b in pairs.tolist():
        key = (a, b)
        vector = cache.get(key)
        if vector is None:
            vector = cache[key] = compare(records[a], records[b])
        rows.append(vector)
    if not rows:
        return np.zeros((0, len(_NAMES)), dtype=np.int8)
    return np.asarray(rows, dtype=np.int8)
