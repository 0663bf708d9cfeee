"""Term-frequency adjustment orders common and rare names (and postcodes) correctly."""

from __future__ import annotations

from matching.frequencies import TermFrequencies
from matching.model import load_default_model
from matching.normalise import normalise
from matching.scoring import score
from matching.types import Demographics

MODEL = load_default_model()
TF = TermFrequencies.build(
    MODEL,
    total=100_000,
    given={"SARAH": 900, "OLUWASEUN": 3},
    family={"SMITH": 1100, "OKONKWOBAPTISTE": 2},
)


def _pair(given: str, family: str) -> float:
    a = normalise(Demographics(given_name=given, family_name=family, birth_date="1980-01-01"))
    return score(MODEL, a, a, adjuster=TF).weight


def test_rare_names_weigh_more_than_common_ones():
    assert _pair("Oluwaseun", "Okonkwo-Baptiste") > _pair("Sarah", "Smith")
    assert TF.shift("family_name", "SMITH") < 0 < TF.shift("family_name", "OKONKWOBAPTISTE")
    assert TF.shift("given_name", "SARAH") < TF.shift("given_name", "OLUWASEUN")


def test_shift_is_bounded_and_off_for_small_indexes():
    assert abs(TF.shift("family_name", "NEVERSEEN")) <= TF.max_shift
    small = TermFrequencies.build(MODEL, total=50, given={}, family={"SMITH": 40})
    assert small.shift("family_name", "SMITH") == 0.0


def test_only_exact_name_levels_are_adjusted():
    a = normalise(Demographics(given_name="Sarah", family_name="Smith"))
    assert TF.adjust("family_name", "jaro_winkler_high", 5.0, a, a) == 5.0
    assert TF.adjust("postcode", "exact", 7.0, a, a) == 7.0
    assert TF.adjust("family_name", "exact", 8.0, a, a) < 8.0


def test_a_set_prior_scales_with_the_index_size():
    small = TermFrequencies.build(MODEL, total=5_000, given={}, family={})
    large = TermFrequencies.build(MODEL, total=1_000_000, given={}, family={})
    assert MODEL.prior_records == 250_000
    assert small.prior_shift > 0 > large.prior_shift
    assert abs(small.prior_shift - 5.64) < 0.01  # log2(250000 / 5000)
    trained = TermFrequencies(total=5_000, given={}, family={}, u_given=0.01, u_family=0.01)
    assert trained.prior_shift == 0.0


def test_a_crowded_postcode_weighs_less_than_an_ordinary_one_and_than_the_model():
    """A care home's postcode, shared by 300 records, is weaker evidence than a street's."""
    tf = TermFrequencies.build(
        MODEL, total=10_000, given={}, family={}, postcode={"LS6 2AB": 300, "LS6 3BD": 2}
    )
    home = normalise(Demographics(postcode="LS6 2AB"))
    street = normalise(Demographics(postcode="LS6 3BD"))
    plain = next(f.weight for f in score(MODEL, home, home).fields if f.comparison == "postcode")
    crowded = tf.adjust("postcode", "exact", plain, home, home)
    ordinary = tf.adjust("postcode", "exact", plain, street, street)
    assert crowded < plain == ordinary  # a rare postcode keeps the model's weight
    assert tf.shift("postcode", "LS6 2AB") < 0 == tf.shift("postcode", "LS6 3BD")
    gaining = TermFrequencies.build(
        MODEL, 10_000, {}, {}, {"LS6 2AB": 300, "LS6 3BD": 2}, max_postcode_gain=5.0
    )
    assert gaining.shift("postcode", "LS6 2AB") == tf.shift("postcode", "LS6 2AB")
    assert gaining.shift("postcode", "LS6 3BD") > 0
    assert tf.adjust("postcode", "same_sector", 2.0, home, home) == 2.0


def test_no_postcode_shift_without_a_postcode_u():
    tf = TermFrequencies(
        total=10_000, given={}, family={}, u_given=0.01, u_family=0.01, postcode={"LS6 2AB": 300}
    )
    assert tf.shift("postcode", "LS6 2AB") == 0.0
