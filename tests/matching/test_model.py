from __future__ import annotations

import copy
import math
from typing import Any

import pytest

from matching.comparisons import COMPARISONS
from matching.errors import InvalidModel
from matching.model import MatchModel, load_default_model

DEFAULT = load_default_model()


def _document(**changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(DEFAULT.to_dict())
    document.update(changes)
    return document


def _reasons(document: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidModel) as caught:
        MatchModel.from_dict(document)
    return [f"{p.field} {p.reason}" for p in caught.value.problems]


def test_default_model_loads() -> None:
    assert DEFAULT.version == "default-1"
    assert dict(DEFAULT.thresholds) == {"link": 0.999, "review": 0.5}
    assert 0 < DEFAULT.prior < 1
    assert [c.name for c in DEFAULT.comparisons] == [c.name for c in COMPARISONS]
    for params, declared in zip(DEFAULT.comparisons, COMPARISONS, strict=True):
        assert params.labels == declared.labels


def test_default_weights_point_the_right_way() -> None:
    for params in DEFAULT.comparisons:
        weights = dict(zip(params.labels, params.weights, strict=True))
        assert weights["missing"] == 0.0
        assert weights["exact"] > 0 > weights["different"], params.name


def test_round_trip() -> None:
    again = MatchModel.from_dict(DEFAULT.to_dict())
    assert again == DEFAULT
    assert again.weights == DEFAULT.weights


def test_model_is_immutable() -> None:
    with pytest.raises(AttributeError):
        DEFAULT.prior = 0.5  # type: ignore[misc]
    with pytest.raises(TypeError):
        DEFAULT.thresholds["link"] = 0.5  # type: ignore[index]


def test_prior_weight() -> None:
    assert math.isclose(DEFAULT.prior_weight, math.log2(DEFAULT.prior / (1 - DEFAULT.prior)))


def _with_level(comparison: str, index: int, **changes: Any) -> dict[str, Any]:
    document = _document()
    document["comparisons"][comparison]["levels"][index].update(changes)
    return document


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param(
            _with_level("given_name", 2, m=0.0),
            "comparisons.given_name.levels[2].m must be in (0, 1], got 0.0",
            id="m-zero",
        ),
        pytest.param(
            _with_level("given_name", 2, u=1.5),
            "comparisons.given_name.levels[2].u must be in (0, 1], got 1.5",
            id="u-above-one",
        ),
        pytest.param(
            _with_level("sex", 1, m="0.9"),
            "comparisons.sex.levels[1].m must be in (0, 1], got '0.9'",
            id="m-string",
        ),
        pytest.param(
            _with_level("sex", 0, m=0.5),
            "comparisons.sex.levels[0].m must not be set: missing always weighs 0",
            id="missing-with-m",
        ),
        pytest.param(
            _with_level("sex", 1, m=0.5),
            "comparisons.sex.levels m over the levels other than missing must sum to 1, got 0.5150",
            id="m-does-not-sum",
        ),
        pytest.param(
            _with_level("sex", 1, label="same"),
            "comparisons.sex.levels must have the labels ['missing', 'exact', 'different'] in"
            " order, got ['missing', 'same', 'different']",
            id="wrong-label",
        ),
        pytest.param(
            _document(prior=0),
            "prior must be a number in (0, 1), got 0",
            id="prior-zero",
        ),
        pytest.param(
            _document(prior=True),
            "prior must be a number in (0, 1), got True",
            id="prior-bool",
        ),
        pytest.param(_document(version=""), "version must be a non-empty string", id="version"),
        pytest.param(
            _document(thresholds={"link": 0.5, "review": 0.9}),
            "thresholds.review must not be above thresholds.link",
            id="review-above-link",
        ),
        pytest.param(
            _document(thresholds={"link": 1.0, "review": 0.5}),
            "thresholds.link must be in (0, 1), got 1.0",
            id="link-one",
        ),
        pytest.param(
            _document(thresholds={"link": 0.99, "review": 0.5, "auto": 0.7}),
            "thresholds.auto is not a known threshold",
            id="unknown-threshold",
        ),
    ],
)
def test_single_problem(document: dict[str, Any], expected: str) -> None:
    assert _reasons(document) == [expected]


def test_missing_and_unknown_comparisons() -> None:
    document = _document()
    del document["comparisons"]["phone"]
    document["comparisons"]["email"] = {"levels": []}
    reasons = _reasons(document)
    assert reasons[0].startswith("comparisons.email is not a declared comparison")
    assert reasons[1] == "comparisons.phone is missing (must be an object with levels)"


def test_all_problems_are_reported_at_once() -> None:
    document = _with_level("given_name", 2, m=-1)
    document["comparisons"]["birth_date"]["levels"][1]["u"] = None
    document["prior"] = 2
    document["thresholds"] = {"link": 0.9}
    reasons = _reasons(document)
    assert reasons == [
        "prior must be a number in (0, 1), got 2",
        "thresholds.review must be in (0, 1), got None",
        "comparisons.given_name.levels[2].m must be in (0, 1], got -1",
        "comparisons.birth_date.levels[1].u must be in (0, 1], got None",
    ]


@pytest.mark.parametrize("document", [None, [], "model"], ids=["none", "list", "string"])
def test_not_an_object(document: Any) -> None:
    assert _reasons(document) == ["(document) must be a JSON object"]


def test_error_message_names_the_paths() -> None:
    with pytest.raises(InvalidModel, match=r"comparisons\.given_name\.levels\[2\]\.m"):
        MatchModel.from_dict(_with_level("given_name", 2, m=0.0))


def test_a_model_file_without_a_newly_added_comparison_still_loads(monkeypatch) -> None:
    """A comparison added after a model was saved takes its declared defaults."""
    import matching.model as model_module
    from matching.comparisons import COMPARISONS, MISSING, Comparison, Level

    email = Comparison(
        "email",
        (MISSING, Level("exact", "the same address"), Level("different", "another")),
        "E-mail addresses.",
        lambda a, b: 0,
        optional=True,
    )
    document = load_default_model().to_dict()  # saved before e-mail was compared
    monkeypatch.setattr(model_module, "COMPARISONS", (*COMPARISONS, email))
    model = MatchModel.from_dict(document)
    added = model.comparison("email")
    assert added.labels == ("missing", "exact", "different")
    assert added.weights == (0.0, 0.0, 0.0)  # no evidence until a model is trained with it
    assert added.description == model_module.DEFAULTED
    assert model.comparison("given_name") == MatchModel.from_dict(document).comparison("given_name")
    assert "email" in model.to_dict()["comparisons"]  # saved again, the defaults are kept
    # declared defaults win over the neutral ones
    scored = Comparison(
        "email",
        (
            MISSING,
            Level("exact", "the same address", m=0.9, u=0.001),
            Level("different", "another", m=0.1, u=0.999),
        ),
        "E-mail addresses.",
        lambda a, b: 0,
        optional=True,
    )
    monkeypatch.setattr(model_module, "COMPARISONS", (*COMPARISONS, scored))
    exact = MatchModel.from_dict(document).comparison("email").levels[1]
    assert (exact.m, exact.u) == (0.9, 0.001)
    # a required comparison is still a problem when missing
    del document["comparisons"]["phone"]
    with pytest.raises(InvalidModel, match=r"comparisons\.phone is missing"):
        MatchModel.from_dict(document)
