"""Training: EM recovers known m and u; u from random pairs; thresholds; labels."""

from __future__ import annotations

import math

import numpy as np
import pytest

from matching.comparisons import COMPARISONS
from matching.model import load_default_model
from matching.training import (
    TrainingOptions,
    check_labels,
    comparison_matrix,
    estimate_m,
    estimate_u,
    random_pairs,
    rule_pairs,
    suggest_thresholds,
    threshold_curve,
    train,
)
from mpi.demo.datasets import synthetic_records

NAMES = [c.name for c in COMPARISONS]
LEVELS = [len(c.levels) for c in COMPARISONS]


def _known(seed: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """m and u per comparison, drawn once: m favours agreement, u disagreement."""
    rng = np.random.default_rng(seed)
    m, u = {}, {}
    for name, n in zip(NAMES, LEVELS, strict=True):
        mm = rng.dirichlet(np.ones(n - 1) * 0.5)
        mm[0] += 3.0  # the first agreement level dominates for matches
        uu = rng.dirichlet(np.ones(n - 1) * 0.5)
        uu[-1] += 20.0  # and "different" for non-matches
        m[name] = np.concatenate([[0.0], mm / mm.sum()])
        u[name] = np.concatenate([[0.0], uu / uu.sum()])
    return m, u


def _draw(
    m: dict[str, np.ndarray], u: dict[str, np.ndarray], share: float, pairs: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    is_match = rng.random(pairs) < share
    matrix = np.zeros((pairs, len(NAMES)), dtype=np.int8)
    for j, name in enumerate(NAMES):
        n = LEVELS[j]
        matrix[is_match, j] = rng.choice(n, size=is_match.sum(), p=m[name])
        matrix[~is_match, j] = rng.choice(n, size=(~is_match).sum(), p=u[name])
        missing = rng.random(pairs) < 0.05  # missing is its own level, never estimated
        matrix[missing, j] = 0
    return matrix, is_match


def test_em_recovers_known_m_and_match_share():
    m, u = _known(seed=3)
    matrix, is_match = _draw(m, u, share=0.3, pairs=60_000, seed=4)
    start = {
        name: np.concatenate([[0.0], np.full(n - 1, 1.0 / (n - 1))])
        for name, n in zip(NAMES, LEVELS, strict=True)
    }
    result = estimate_m(matrix, u, start, match_share=0.5, max_iterations=200, tolerance=1e-6)
    assert result.converged
    assert result.match_share == pytest.approx(is_match.mean(), abs=0.01)
    for name in NAMES:
        assert np.allclose(result.m[name][1:], m[name][1:], atol=0.02), name


def test_em_leaves_fixed_comparisons_out():
    m, u = _known(seed=5)
    matrix, _ = _draw(m, u, share=0.5, pairs=20_000, seed=6)
    start = load_default_model()
    m_start = {c.name: np.array([lv.m or 0.0 for lv in c.levels]) for c in start.comparisons}
    result = estimate_m(matrix, u, m_start, fixed=("birth_date", "family_name"))
    assert "birth_date" not in result.trained and "given_name" in result.trained
    assert np.allclose(
        result.m["birth_date"][1:], m_start["birth_date"][1:] / m_start["birth_date"][1:].sum()
    )


def test_u_from_known_non_matches():
    _, u = _known(seed=7)
    matrix, _ = _draw(u, u, share=0.0, pairs=50_000, seed=8)
    estimated = estimate_u(matrix)
    for name in NAMES:
        assert np.allclose(estimated[name][1:], u[name][1:], atol=0.01), name


@pytest.fixture(scope="module")
def synthetic():
    return synthetic_records(800, seed=5)


def test_u_from_random_pairs_is_right_on_synthetic_data(synthetic):
    records, persons = synthetic.records, synthetic.persons
    pairs = random_pairs(len(records), 200_000, seed=1)
    matrix = comparison_matrix(records, pairs)
    different = np.array([persons[a] != persons[b] for a, b in pairs.tolist()])
    assert different.mean() > 0.99  # random pairs are almost all different people
    from_random = estimate_u(matrix)
    from_truth = estimate_u(matrix[different])
    for name in NAMES:
        assert np.allclose(from_random[name], from_truth[name], atol=0.002), name
    # u of an exact sex match is about a half; of an exact birth date, about 1 in 10^4
    assert from_random["sex"][1] == pytest.approx(0.5, abs=0.02)
    assert from_random["birth_date"][1] < 0.002


def test_random_pairs_are_seeded_and_never_a_record_with_itself():
    a = random_pairs(50, 1000, seed=9)
    assert (a[:, 0] != a[:, 1]).all()
    assert (a == random_pairs(50, 1000, seed=9)).all()


def test_train_recovers_m_on_synthetic_data(synthetic):
    records, persons = synthetic.records, synthetic.persons
    result = train(records, options=TrainingOptions(u_pairs=100_000))
    pairs = rule_pairs(records, "given_name+family_name", 200)
    pairs = np.concatenate([pairs, rule_pairs(records, "birth_date+family_name", 200)])
    matrix = comparison_matrix(records, pairs)
    same = np.array([persons[a] == persons[b] for a, b in pairs.tolist()])
    for name in ("given_name", "family_name", "birth_date", "sex"):
        j = NAMES.index(name)
        column = matrix[same, j]
        column = column[column > 0]
        true_exact = float((column == 1).mean())
        trained = result.model.comparison(name).levels[1].m
        assert trained == pytest.approx(true_exact, abs=0.05), name
    assert 0 < result.model.prior < 0.01
    assert result.model.thresholds["review"] <= result.model.thresholds["link"]
    assert result.summary()["records"] == len(records)


def test_threshold_curve_and_suggestion():
    p = np.array([0.99999] * 990 + [0.6] * 10 + [0.01] * 100)
    curve = threshold_curve(p, [0.5, 0.9])
    assert curve[0].pairs == 1000 and curve[1].pairs == 990
    assert curve[1].precision > curve[0].precision
    assert curve[1].recall < curve[0].recall
    suggested = suggest_thresholds(p, false_merge_rate=0.001)
    assert suggested["link"] > 0.6 and suggested["review"] <= 0.6


def test_labels_are_checked():
    model = load_default_model()
    matrix = np.array(
        [[1, 1, 1, 1, 1, 1, 1, 1], [0, 1, 1, 1, 1, 0, 0, 0], [3, 7, 6, 5, 2, 4, 4, 2]],
        dtype=np.int8,
    )
    check = check_labels(model, matrix, [True, True, False])
    assert (check.matches, check.non_matches) == (2, 1)
    assert check.non_matches_linked == 0 and check.precision == 1.0


def test_u_is_corrected_for_the_matches_among_random_pairs():
    """Random pairs of a small index hold matches; counted as they are, they inflate u."""
    from matching.training import _u_without_matches

    m, u = _known(seed=11)
    matrix, is_match = _draw(m, u, share=0.02, pairs=100_000, seed=12)
    counted = estimate_u(matrix)
    corrected = _u_without_matches(matrix, m, counted, prior=float(is_match.mean()))
    for name in NAMES:
        # the first agreement level is where matches land: counted u is too high there
        assert counted[name][1] > u[name][1] + 0.01, name
        assert corrected[name][1] == pytest.approx(u[name][1], abs=0.005), name
        assert np.allclose(corrected[name][1:], u[name][1:], atol=0.01), name


def test_training_refreshes_the_postcode_u_that_term_frequencies_shift_from(synthetic):
    """A trained model's u for postcode.exact is a random pair's chance of sharing a postcode:
    the record-weighted average of the postcodes' shares, so an average postcode keeps its
    weight and a crowded one loses some."""
    from collections import Counter

    from matching.frequencies import TermFrequencies

    records = synthetic.records
    model = train(records, options=TrainingOptions(u_pairs=100_000)).model
    counts = Counter(r.postcode for r in records if r.postcode)
    tf = TermFrequencies.build(model, len(records), {}, {}, counts, min_total=0)
    exact = model.comparison("postcode").levels[1]
    assert exact.label == "exact" and tf.u_postcode == exact.u
    assert tf.u_postcode != TermFrequencies.build(load_default_model(), 1, {}, {}).u_postcode
    average = sum(n * n for n in counts.values()) / len(records) ** 2
    assert abs(math.log2(tf.u_postcode / average)) < 0.5
    busiest, _ = counts.most_common(1)[0]
    assert tf.shift("postcode", busiest) < 0


def _labelled_households() -> tuple[list, list[tuple[int, int, bool]]]:
    """120 men known as STEPHEN and STEVEN with a birth date one digit out (the same
    person), and 120 pairs of brothers STEPHEN and STEVEN born three years apart at one
    address (different people), each pair decided by a reviewer."""
    import itertools

    from matching.normalise import normalise
    from matching.types import Demographics

    families = ["".join(x) + "ER" for x in itertools.product("BCDFGHKLMNPRST", repeat=3)]
    records, labels = [], []
    for i, family in enumerate(families[:240]):
        home = dict(
            family_name=family,
            sex="male",
            postcode=f"LS{1 + i % 9} 2AB",
            address_line=f"{i} HIGH STREET",
        )
        if i < 120:
            year, month = 1950 + i % 40, 1 + i % 9
            dates = (f"{year}-0{month}-1{i % 9}", f"{year}-0{month}-2{i % 9}")
        else:
            dates = ("1970-03-04", "1973-03-24")
        records.append(normalise(Demographics(given_name="STEPHEN", birth_date=dates[0], **home)))
        records.append(normalise(Demographics(given_name="STEVEN", birth_date=dates[1], **home)))
        labels.append((len(records) - 2, len(records) - 1, i < 120))
    return records, labels


def test_labels_give_m_and_resolve_what_the_unlabelled_model_left_open():
    """Reviewers' decisions train m where EM has nothing (no training rule here), and the
    labelled model links the pairs the unlabelled one sent to review, with no labelled
    non-match at or above its link threshold."""
    from matching.training import _probabilities

    records, labels = _labelled_households()
    pairs = np.array([(a, b) for a, b, _ in labels], dtype=np.int64)
    same = np.array([s for _, _, s in labels])
    options = dict(u_pairs=20_000, rules={})
    unlabelled = train(records, options=TrainingOptions(**options, use_labels=False), labels=labels)
    labelled = train(records, options=TrainingOptions(**options), labels=labels)
    assert unlabelled.extra["supervised_m"] == {}
    assert labelled.extra["supervised_m"]["given_name"] == 120
    matrix = comparison_matrix(records, pairs)
    before = _probabilities(unlabelled.model, matrix)
    after = _probabilities(labelled.model, matrix)
    t0, t1 = unlabelled.model.thresholds, labelled.model.thresholds
    # the unlabelled model leaves every labelled match open in review
    assert ((before[same] >= t0["review"]) & (before[same] < t0["link"])).all()
    assert unlabelled.labels.matches_reviewed == 120 and unlabelled.labels.matches_linked == 0
    # the labelled one links them, also at the packaged model's link threshold
    assert (after[same] >= t1["link"]).all() and (after[same] >= 0.999).all()
    assert labelled.labels.matches_linked == 120
    # and no labelled non-match links, under either threshold
    assert (after[~same] < t1["link"]).all() and (after[~same] < 0.999).all()
    assert labelled.labels.non_matches_linked == 0


def test_the_link_threshold_stays_above_every_labelled_non_match():
    from matching.training import _above_labelled_non_matches

    raised = _above_labelled_non_matches({"link": 0.99, "review": 0.5}, np.array([0.1, 0.995]))
    assert raised["link"] > 0.995 and raised["review"] == 0.5
    kept = _above_labelled_non_matches({"link": 0.99, "review": 0.5}, np.array([0.1, 0.6]))
    assert kept == {"link": 0.99, "review": 0.5}
