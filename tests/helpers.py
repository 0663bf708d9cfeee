"""Small builders for tests (synthetic data only: NHS numbers from the 999 test range)."""

from __future__ import annotations

from typing import Any

from mpi.loading import demographics_from_row
from mpi.records import MatchContext, prepare
from mpi.store.records import RecordRow


def synthetic_nhs_number(n: int) -> str:
    """The n-th valid Modulus 11 NHS number of the 999 test range."""
    candidate = 999_000_000 + n * 7
    while True:
        digits = f"{candidate:09d}"
        total = sum(int(d) * (10 - i) for i, d in enumerate(digits))
        check = 11 - total % 11
        check = 0 if check == 11 else check
        if check != 10 and len(set(digits + str(check))) > 1:
            return digits + str(check)
        candidate += 1


def row(
    ctx: MatchContext,
    local_id: str,
    *,
    nhs_number: str = "",
    given_name: str = "",
    family_name: str = "",
    sex: str = "",
    birth_date: str = "",
    address_line: str = "",
    postcode: str = "",
    phone: str = "",
    **extra: Any,
) -> RecordRow:
    """A prepared record as a CSV row would give it (``extra``: the optional columns,
    ``multiple_birth``, ``birth_order``, ``deceased``, ``deceased_at``)."""
    raw: dict[str, Any] = {
        "local_id": local_id,
        "nhs_number": nhs_number,
        "given_name": given_name,
        "family_name": family_name,
        "sex": sex,
        "birth_date": birth_date,
        "address_line": address_line,
        "postcode": postcode,
        "phone": phone,
        **extra,
    }
    return prepare(ctx, local_id, raw, demographics_from_row(raw))
