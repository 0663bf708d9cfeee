"""The pure matching engine of the MPI: normalise, block, compare, score, evaluate.

Nothing here touches a database, the network or the environment; the only file read is
the packaged reference data (``matching/data``).

Example:
    >>> from matching import Demographics, blocking_keys, load_default_model, normalise, score
    >>> a = normalise(Demographics(given_name="Bob", family_name="O'Brien",
    ...                            birth_date="1980-03-04", postcode="se15 4qt"))
    >>> b = normalise(Demographics(given_name="Robert", family_name="OBrien",
    ...                            birth_date="1980-03-04", postcode="SE15 4QT"))
    >>> bool(blocking_keys(a) & blocking_keys(b))
    True
    >>> score(load_default_model(), a, b).probability > 0.999
    True
"""

from __future__ import annotations

from matching.blocking import blocking_keys
from matching.comparisons import COMPARISONS, Comparison, compare
from matching.errors import InvalidDemographics, InvalidModel, MatchingError, Problem
from matching.evaluation import Evaluation, evaluate
from matching.findings import Finding
from matching.model import ComparisonParameters, LevelParameters, MatchModel, load_default_model
from matching.nhs_number import (
    NhsNumberCheck,
    format_nhs_number,
    generate_check_digit,
    is_test_range,
    normalise_verification_status,
)
from matching.nhs_number import check as check_nhs_number
from matching.nhs_number import is_valid as is_valid_nhs_number
from matching.nicknames import are_name_variants
from matching.normalise import (
    normalise,
    normalise_address,
    normalise_family_name,
    normalise_given_names,
    normalise_phone,
    normalise_postcode,
    normalise_sex,
    postcode_area,
    postcode_district,
    postcode_sector,
)
from matching.scoring import WeightAdjuster, findings, match_probability, score
from matching.types import Demographics, FieldScore, MatchScore, NormalisedRecord

__all__ = [
    "COMPARISONS",
    "Comparison",
    "ComparisonParameters",
    "Demographics",
    "Evaluation",
    "FieldScore",
    "Finding",
    "InvalidDemographics",
    "InvalidModel",
    "LevelParameters",
    "MatchModel",
    "MatchScore",
    "MatchingError",
    "NhsNumberCheck",
    "NormalisedRecord",
    "Problem",
    "WeightAdjuster",
    "are_name_variants",
    "blocking_keys",
    "check_nhs_number",
    "compare",
    "evaluate",
    "findings",
    "format_nhs_number",
    "generate_check_digit",
    "is_test_range",
    "is_valid_nhs_number",
    "load_default_model",
    "match_probability",
    "normalise",
    "normalise_address",
    "normalise_family_name",
    "normalise_given_names",
    "normalise_phone",
    "normalise_postcode",
    "normalise_sex",
    "normalise_verification_status",
    "postcode_area",
    "postcode_district",
    "postcode_sector",
    "score",
]
