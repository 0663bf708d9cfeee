"""The findings of a scored pair, declared once: safety findings and informational ones.

A finding is a constant of :class:`Finding`, a plain string (``Finding.TWIN_RISK ==
"twin_risk"``): stored flags, review reasons and JSON keep the strings they always had,
and the hot scoring path compares strings, not enum members (a ``StrEnum`` comparison
measured several times slower). :func:`matching.scoring.findings` returns every finding of
a pair; :mod:`mpi.links` decides what each one means for a link.

Safety findings (:data:`SAFETY`) forbid an automatic link whatever the probability; the
informational ones (:data:`INFORMATIONAL`) let the linker link only when no other
identity is plausible, or say why a twin risk was raised. See
:mod:`matching.scoring` for when each one is found.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ALL", "Finding", "INFORMATIONAL", "REVIEW_REASONS", "ReviewReason", "SAFETY"]


class Finding:
    """Every finding :func:`matching.scoring.findings` can return (string constants)."""

    NHS_NUMBER_CONFLICT: Final = "nhs_number_conflict"
    """Two valid, different NHS numbers."""
    NHS_NUMBER_SHARED_CONFLICT: Final = "nhs_number_shared_conflict"
    """One NHS number, but details that say another person (a relative's number)."""
    TWIN_RISK: Final = "twin_risk"
    """Same family name and birth date, given names that do not agree."""
    BIRTH_DATE_CONFLICT: Final = "birth_date_conflict"
    """Birth dates years apart (a same-name parent and child)."""
    WEAK_EVIDENCE: Final = "weak_evidence"
    """Nothing beyond a common name and a birth date agrees, or no birth date."""
    SEX_CONFLICT: Final = "sex_conflict"
    """Another sex and given names that do not agree."""
    MIDDLE_NAME_CONFLICT: Final = "middle_name_conflict"
    """No birth date on one side and middle names that share nothing."""
    SPARSE_EVIDENCE: Final = "sparse_evidence"
    """Not the evidence a link needs to disclose a person to another system."""
    BIRTH_ORDER_CONFLICT: Final = "birth_order_conflict"
    """Two different birth orders (twin 1 and twin 2)."""
    MULTIPLE_BIRTH_CONFLICT: Final = "multiple_birth_conflict"
    """A multiple birth and first given names that are not one name."""
    NAME_NOT_COMPARABLE: Final = "name_not_comparable"
    """A name of which nothing comparable is left, and no agreeing NHS number."""
    GIVEN_NAME_INITIAL: Final = "given_name_initial"
    """Informational: a twin risk but for an initial ("P" and "PAUL")."""
    BIRTH_DATE_MISSING: Final = "birth_date_missing"
    """Informational: no birth date on one side, same name at the same home."""
    GIVEN_NAME_MIDDLE_ONLY: Final = "given_name_middle_only"
    """Informational: given names agree only through a middle name (comes with a twin risk)."""


#: Every finding.
ALL: Final = frozenset(v for k, v in vars(Finding).items() if k.isupper())
#: Findings that forbid an automatic link.
SAFETY = frozenset(
    {
        Finding.NHS_NUMBER_CONFLICT,
        Finding.NHS_NUMBER_SHARED_CONFLICT,
        Finding.TWIN_RISK,
        Finding.BIRTH_DATE_CONFLICT,
        Finding.WEAK_EVIDENCE,
        Finding.SEX_CONFLICT,
        Finding.MIDDLE_NAME_CONFLICT,
        Finding.SPARSE_EVIDENCE,
        Finding.BIRTH_ORDER_CONFLICT,
        Finding.MULTIPLE_BIRTH_CONFLICT,
        Finding.NAME_NOT_COMPARABLE,
    }
)
#: Findings that are no safety finding on their own.
INFORMATIONAL = ALL - SAFETY


class ReviewReason:
    """Why a review item is open; four are findings, three are not."""

    NHS_NUMBER_SHARED_CONFLICT: Final = Finding.NHS_NUMBER_SHARED_CONFLICT
    TWIN_RISK: Final = Finding.TWIN_RISK
    NHS_NUMBER_CONFLICT: Final = Finding.NHS_NUMBER_CONFLICT
    BIRTH_DATE_CONFLICT: Final = Finding.BIRTH_DATE_CONFLICT
    INTRA_SYSTEM_DUPLICATE: Final = "intra_system_duplicate"
    INVALID_NHS_NUMBER: Final = "invalid_nhs_number"
    POSSIBLE_MATCH: Final = "possible_match"


#: Review reasons, most urgent first.
REVIEW_REASONS: Final = (
    ReviewReason.NHS_NUMBER_SHARED_CONFLICT,
    ReviewReason.TWIN_RISK,
    ReviewReason.NHS_NUMBER_CONFLICT,
    ReviewReason.BIRTH_DATE_CONFLICT,
    ReviewReason.INTRA_SYSTEM_DUPLICATE,
    ReviewReason.INVALID_NHS_NUMBER,
    ReviewReason.POSSIBLE_MATCH,
)
