"""mpi.access.rule: the one disclosure rule, case by case (pure, no database)."""

from __future__ import annotations

import pytest

from mpi.access import Caller, Sight, rule
from mpi.optout import WITHHELD_REASON


def _caller(*scopes: str, emergency: bool = False) -> Caller:
    return Caller(
        system_id=1,
        system_code="X",
        scopes=frozenset(scopes or ("lookup",)),
        token_id=1,
        purpose="ETREAT" if emergency else "TREAT",
        emergency_reason="unconscious" if emergency else None,
    )


WITHHELD = Sight("record", WITHHELD_REASON)
CASES = [
    # (description, caller, held, objected, emergency counts, expected)
    ("a care relationship sees all", _caller(), True, False, True, Sight("record")),
    ("no relationship sees nothing", _caller(), False, False, True, None),
    ("an emergency sees all", _caller(emergency=True), False, False, True, Sight("emergency")),
    ("no emergency in an event stream", _caller(emergency=True), False, False, False, None),
    ("an objector's holder sees its own only", _caller(), True, True, True, WITHHELD),
    ("an objector: nothing to the unrelated", _caller(), False, True, True, None),
    (
        "an emergency does not override an objection",
        _caller(emergency=True),
        False,
        True,
        True,
        None,
    ),
    ("an admin sees an objector", _caller("admin"), False, True, True, Sight("admin")),
    ("an admin sees everyone", _caller("admin"), False, False, False, Sight("admin")),
]


@pytest.mark.parametrize(
    ("caller", "held", "objected", "emergency", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_rule(caller, held, objected, emergency, expected):
    assert rule(caller, held=held, objected=objected, emergency=emergency) == expected
