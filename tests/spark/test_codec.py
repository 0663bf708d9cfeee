"""Normalised records survive the trip through Parquet and Spark's workers as JSON."""

from __future__ import annotations

from matching.normalise import normalise
from matching.types import Demographics
from mpi.spark.codec import norm_from_json, norm_to_json
from tests.helpers import synthetic_nhs_number


def test_a_full_record_and_an_empty_one_round_trip():
    full = normalise(
        Demographics(
            nhs_number=synthetic_nhs_number(3),
            given_name="Anne-Marie Louise",
            family_name="Smith-Jones",
            sex="female",
            birth_date="1980-03-04",
            address_line="12 Acacia Road",
            postcode="LS6 2AB",
            phone="0113 496 0000",
        )
    )
    assert full.birth_date is not None and full.given_names
    for rec in (full, normalise(Demographics())):
        assert norm_from_json(norm_to_json(rec)) == rec
