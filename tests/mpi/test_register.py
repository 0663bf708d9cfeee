"""register(): idempotence, updates, manual decisions, safety rules, in real PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest

from mpi.records import register
from mpi.store import systems
from tests.conftest import truncate_all
from tests.helpers import row, synthetic_nhs_number

NHS_A = synthetic_nhs_number(1)
NHS_B = synthetic_nhs_number(2)
#: A same-name father and son share it (each test adds their NHS numbers and birth dates).
_MURPHY_HOME = dict(
    given_name="John",
    family_name="Murphy",
    sex="male",
    address_line="9 Station Road",
    postcode="HX1 5QT",
)


def _systems(conn: psycopg.Connection[Any]) -> None:
    systems.ensure_system(conn, "GP", "GP practices", "gp", 1)
    systems.ensure_system(conn, "HOSP", "Hospital EPR", "hospital", 2)
    systems.ensure_system(conn, "ASC", "Adult social care", "social-care", 4)


def _count(conn: psycopg.Connection[Any], sql: str) -> int:
    return conn.execute(sql).fetchone()[0]


def alice(ctx: Any, local_id: str, **changes: str) -> Any:
    fields = dict(
        nhs_number=NHS_A,
        given_name="Alice",
        family_name="Okonkwo",
        sex="female",
        birth_date="1984-03-17",
        address_line="12 Acacia Road",
        postcode="LS6 2AB",
    )
    fields.update(changes)
    return row(ctx, local_id, **fields)


def test_first_record_creates_a_person(conn, ctx):
    _systems(conn)
    result = register(conn, ctx, "GP", alice(ctx, "G1"))
    assert result.decision == "new_person"
    assert _count(conn, "SELECT count(*) FROM person") == 1
    events = conn.execute("SELECT event_type FROM identity_event ORDER BY id").fetchall()
    assert [e[0] for e in events] == ["person_created", "record_linked"]


def test_same_person_from_another_system_links(conn, ctx):
    _systems(conn)
    first = register(conn, ctx, "GP", alice(ctx, "G1"))
    second = register(conn, ctx, "HOSP", alice(ctx, "H9", given_name="ALICE", postcode="ls62ab"))
    assert second.decision == "linked"
    assert second.person_id == first.person_id
    assert second.score is not None and second.score.probability >= ctx.thresholds.link


def test_resending_the_same_data_changes_nothing(conn, ctx):
    _systems(conn)
    register(conn, ctx, "GP", alice(ctx, "G1"))
    before = [
        _count(conn, f"SELECT count(*) FROM {t}")
        for t in ("person", "link_history", "identity_event", "source_record")
    ]
    again = register(conn, ctx, "GP", alice(ctx, "G1"))
    after = [
        _count(conn, f"SELECT count(*) FROM {t}")
        for t in ("person", "link_history", "identity_event", "source_record")
    ]
    assert again.decision == "unchanged"
    assert before == after
    version = conn.execute("SELECT version FROM source_record").fetchone()[0]
    assert version == 1


def test_update_keeps_the_link_and_bumps_the_version(conn, ctx):
    _systems(conn)
    first = register(conn, ctx, "GP", alice(ctx, "G1"))
    register(conn, ctx, "HOSP", alice(ctx, "H1"))
    updated = register(
        conn, ctx, "GP", alice(ctx, "G1", address_line="3 New Street", postcode="LS7 1AA")
    )
    assert updated.person_id == first.person_id
    assert updated.decision == "kept"
    version = conn.execute("SELECT version FROM source_record WHERE local_id = 'G1'").fetchone()[0]
    assert version == 2
    assert (
        _count(conn, "SELECT count(*) FROM identity_event WHERE event_type = 'record_updated'") == 1
    )


def test_update_that_no_longer_matches_moves_the_record_out(conn, ctx):
    _systems(conn)
    first = register(conn, ctx, "GP", alice(ctx, "G1"))
    register(conn, ctx, "HOSP", alice(ctx, "H1"))
    moved = register(
        conn,
        ctx,
        "HOSP",
        row(
            ctx,
            "H1",
            nhs_number=NHS_B,
            given_name="Brian",
            family_name="Walsh",
            sex="male",
            birth_date="1950-01-02",
            postcode="BD1 1AA",
        ),
    )
    assert moved.person_id != first.person_id
    assert (
        _count(conn, "SELECT count(*) FROM identity_event WHERE event_type = 'record_moved'") == 1
    )


def test_update_never_overrides_a_manual_link(conn, ctx):
    _systems(conn)
    first = register(conn, ctx, "GP", alice(ctx, "G1"))
    register(conn, ctx, "HOSP", alice(ctx, "H1"))
    conn.execute(
        "UPDATE link SET method = 'manual' WHERE record_id ="
        " (SELECT id FROM source_record WHERE local_id = 'H1')"
    )
    result = register(
        conn,
        ctx,
        "HOSP",
        row(ctx, "H1", given_name="Completely", family_name="Different", birth_date="1901-05-05"),
    )
    assert result.decision == "kept_manual"
    assert result.person_id == first.person_id


def test_two_valid_different_nhs_numbers_never_auto_link(conn, ctx):
    _systems(conn)
    first = register(conn, ctx, "GP", alice(ctx, "G1"))
    second = register(conn, ctx, "HOSP", alice(ctx, "H1", nhs_number=NHS_B))
    assert second.decision in ("new_person", "review")
    assert second.person_id != first.person_id


def test_twins_are_not_auto_linked(conn, ctx):
    _systems(conn)
    base = dict(
        family_name="Adeyemi",
        birth_date="2012-06-01",
        address_line="4 Mill Lane",
        postcode="WF1 2DE",
    )
    first = register(conn, ctx, "GP", row(ctx, "G1", given_name="Tobi", sex="male", **base))
    twin = register(conn, ctx, "HOSP", row(ctx, "H1", given_name="Kemi", sex="female", **base))
    assert twin.person_id != first.person_id
    same_sex_twin = register(
        conn, ctx, "ASC", row(ctx, "A1", given_name="Femi", sex="male", **base)
    )
    assert same_sex_twin.person_id not in (first.person_id, twin.person_id)


def test_same_name_parent_and_child_are_not_merged(conn, ctx):
    _systems(conn)
    home = _MURPHY_HOME
    father = register(
        conn, ctx, "GP", row(ctx, "G1", nhs_number=NHS_A, birth_date="1961-02-11", **home)
    )
    son = register(
        conn, ctx, "GP", row(ctx, "G2", nhs_number=NHS_B, birth_date="1990-08-30", **home)
    )
    son_no_nhs = register(conn, ctx, "HOSP", row(ctx, "H2", birth_date="1990-08-30", **home))
    assert son.person_id != father.person_id
    assert son_no_nhs.person_id != father.person_id


def test_relatives_nhs_number_goes_to_review(conn, ctx):
    _systems(conn)
    mother = register(
        conn,
        ctx,
        "GP",
        row(
            ctx,
            "G1",
            nhs_number=NHS_A,
            given_name="Grace",
            family_name="Mensah",
            sex="female",
            birth_date="1970-04-04",
            postcode="BD5 7PL",
        ),
    )
    daughter = register(
        conn,
        ctx,
        "ASC",
        row(
            ctx,
            "A1",
            nhs_number=NHS_A,
            given_name="Esi",
            family_name="Mensah",
            sex="female",
            birth_date="2001-09-15",
            postcode="BD5 7PL",
        ),
    )
    assert daughter.person_id != mother.person_id
    assert daughter.decision == "review"
    reason = conn.execute("SELECT reason FROM review_item WHERE status = 'open'").fetchone()[0]
    assert reason == "nhs_number_shared_conflict"


def test_a_possible_match_opens_a_review_item(conn, ctx):
    _systems(conn)
    first = register(conn, ctx, "GP", alice(ctx, "G1", nhs_number=""))
    maybe = register(
        conn,
        ctx,
        "HOSP",
        alice(
            ctx,
            "H1",
            nhs_number="",
            family_name="Okonkwo-Bello",
            birth_date="1984-03-18",
            postcode="",
        ),
    )
    assert maybe.decision == "review"
    assert maybe.candidate_person_ids == (first.person_id,)
    item = conn.execute("SELECT explanation FROM review_item").fetchone()[0]
    assert {f["comparison"] for f in item} >= {"given_name", "family_name", "birth_date"}


def test_a_same_name_son_with_his_own_nhs_number_opens_no_review_item(conn, ctx):
    # Family name, address, postcode and phone agree and lift the son's probability into
    # the review band, but two valid, different NHS numbers and birth dates decades apart
    # are two independent contradictions: no reviewer needs to see it.
    _systems(conn)
    home = dict(_MURPHY_HOME, phone="07700 900456")
    father = register(
        conn, ctx, "GP", row(ctx, "G1", nhs_number=NHS_A, birth_date="1961-02-11", **home)
    )
    son = register(
        conn, ctx, "HOSP", row(ctx, "H1", nhs_number=NHS_B, birth_date="1990-08-30", **home)
    )
    assert son.person_id != father.person_id
    assert son.score is not None and son.score.probability >= ctx.thresholds.review
    assert son.decision == "new_person" and son.candidate_person_ids == ()
    assert _count(conn, "SELECT count(*) FROM review_item") == 0
    # A possible match of the father still goes to a human.
    maybe = register(
        conn,
        ctx,
        "ASC",
        row(ctx, "A1", given_name="John", family_name="Murphy", birth_date="1961-02-12"),
    )
    assert maybe.decision == "review"
    assert maybe.candidate_person_ids == (father.person_id,)
    reasons = conn.execute("SELECT reason FROM review_item WHERE status = 'open'").fetchall()
    assert [r[0] for r in reasons] == ["possible_match"]


def test_no_match_assertion_is_respected(conn, ctx):
    from mpi.store.records import add_no_match, record_id

    _systems(conn)
    first = register(conn, ctx, "GP", alice(ctx, "G1"))
    register(conn, ctx, "HOSP", alice(ctx, "H1", phone="0113 000 0000"))
    add_no_match(conn, record_id(conn, "GP", "G1"), record_id(conn, "HOSP", "H1"), "tester", "")
    conn.execute(
        "DELETE FROM link WHERE record_id = (SELECT id FROM source_record WHERE local_id = 'H1')"
    )
    again = register(conn, ctx, "HOSP", alice(ctx, "H1", phone="0113 000 0001"))
    assert again.person_id != first.person_id


def test_invalid_nhs_number_is_kept_but_not_used(conn, ctx):
    _systems(conn)
    result = register(conn, ctx, "GP", alice(ctx, "G1", nhs_number="999 123 4560"))
    assert "nhs_number_invalid" in result.issues
    stored = conn.execute("SELECT nhs_number, raw->>'nhs_number' FROM source_record").fetchone()
    assert stored == (None, "999 123 4560")


def test_unknown_system_is_refused(conn, ctx):
    from mpi.errors import NotFound

    with pytest.raises(NotFound):
        register(conn, ctx, "NOPE", alice(ctx, "X1"))


def test_concurrent_registrations_of_one_new_person_end_with_one_person(committed_db, ctx):
    barrier = threading.Barrier(2)
    results: dict[str, str] = {}
    errors: list[BaseException] = []

    def worker(system: str, local_id: str) -> None:
        try:
            with psycopg.connect(committed_db) as c:
                barrier.wait()
                results[system] = register(c, ctx, system, alice(ctx, local_id)).person_id
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    for attempt in range(5):
        truncate_all(committed_db)
        with psycopg.connect(committed_db) as setup:
            _systems(setup)
        barrier.reset()
        threads = [
            threading.Thread(target=worker, args=(s, f"{s}-{attempt}")) for s in ("GP", "HOSP")
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert results["GP"] == results["HOSP"]
        with psycopg.connect(committed_db) as c:
            assert _count(c, "SELECT count(*) FROM person") == 1


def test_twins_named_after_each_other_are_not_merged_in_one_system_or_across(conn, ctx):
    _systems(conn)
    base = dict(
        family_name="Ng",
        birth_date="2013-01-29",
        sex="male",
        address_line="175 Meadow View",
        postcode="BD13 1SP",
    )
    wei = register(conn, ctx, "GP", row(ctx, "G1", given_name="Wei", **base))
    hao = register(conn, ctx, "GP", row(ctx, "G2", given_name="Hao Wei", **base))
    assert hao.person_id != wei.person_id
    # across two systems the same pattern may be a person using a middle name, but twins
    # look the same (MOHAMMED and IBRAHIM MOHAMMED): a human decides
    again = register(
        conn,
        ctx,
        "HOSP",
        row(
            ctx,
            "H1",
            given_name="Mohammed Zain",
            family_name="Riaz",
            birth_date="1960-06-07",
            sex="male",
            postcode="WF10 8UG",
        ),
    )
    zain = register(
        conn,
        ctx,
        "ASC",
        row(
            ctx,
            "A1",
            given_name="Zain",
            family_name="Riaz",
            birth_date="1960-06-07",
            sex="male",
            postcode="WF10 8UG",
        ),
    )
    assert zain.person_id != again.person_id
    assert zain.decision == "review"


def test_a_record_matching_two_split_identities_bridges_them(conn, ctx):
    _systems(conn)
    person = dict(given_name="Terence", family_name="Barnes", sex="male", birth_date="1955-06-19")
    old_home = dict(address_line="99 Green Lane", postcode="WF1 9XG")
    new_home = dict(address_line="69 Poplar Way", postcode="LS24 8UL")
    first = register(conn, ctx, "ASC", row(ctx, "A1", **person, **old_home))
    second = register(conn, ctx, "GP", row(ctx, "G1", nhs_number=NHS_A, **person, **new_home))
    assert second.person_id != first.person_id  # name and birth date alone: not enough
    bridge = register(conn, ctx, "HOSP", row(ctx, "H1", nhs_number=NHS_A, **person, **old_home))
    assert bridge.decision == "linked"
    persons = conn.execute("SELECT count(DISTINCT person_id) FROM link").fetchone()[0]
    assert persons == 1
    merged = conn.execute(
        "SELECT count(*) FROM identity_event WHERE event_type = 'persons_merged'"
    ).fetchone()[0]
    assert merged == 1
    status = conn.execute("SELECT status FROM person ORDER BY id").fetchall()
    assert sorted(s[0] for s in status) == ["active", "merged"]


def test_bridging_never_joins_identities_with_different_nhs_numbers(conn, ctx):
    _systems(conn)
    person = dict(
        given_name="Terence",
        family_name="Barnes",
        sex="male",
        birth_date="1955-06-19",
        address_line="99 Green Lane",
        postcode="WF1 9XG",
    )
    first = register(conn, ctx, "ASC", row(ctx, "A1", nhs_number=NHS_B, **person))
    second = register(conn, ctx, "GP", row(ctx, "G1", nhs_number=NHS_A, **person))
    third = register(conn, ctx, "HOSP", row(ctx, "H1", **person))
    assert first.person_id != second.person_id
    assert third.person_id in (first.person_id, second.person_id) or third.decision == "review"
    persons = conn.execute("SELECT count(DISTINCT person_id) FROM link").fetchone()[0]
    assert persons >= 2


def test_bridging_joins_what_another_order_of_arrival_would_join(conn, ctx):
    # The GP knows Ronald by his middle name; the first hospital record (no NHS number)
    # looks like his twin against it. The second hospital record carries his NHS number
    # and his first name: it joins both, as it would had it come first.
    _systems(conn)
    home = dict(
        family_name="Webb",
        sex="male",
        birth_date="1936-01-20",
        address_line="150 Albert Grove",
        postcode="LS10 3HN",
    )
    gp = register(conn, ctx, "GP", row(ctx, "G1", nhs_number=NHS_A, given_name="William", **home))
    first = register(conn, ctx, "ASC", row(ctx, "A1", given_name="Ronald", **home))
    assert first.person_id != gp.person_id and first.decision == "review"
    bridge = register(
        conn, ctx, "HOSP", row(ctx, "H1", nhs_number=NHS_A, given_name="Ronald", **home)
    )
    assert bridge.decision == "linked"
    persons = conn.execute("SELECT count(DISTINCT person_id) FROM link").fetchone()[0]
    assert persons == 1


def test_bridging_never_joins_twins(conn, ctx):
    _systems(conn)
    home = dict(
        family_name="King",
        sex="female",
        birth_date="2020-06-06",
        address_line="53 Coronation Road",
        postcode="LS28 3GY",
    )
    evie = register(conn, ctx, "GP", row(ctx, "G1", nhs_number=NHS_A, given_name="Evie", **home))
    isla = register(conn, ctx, "GP", row(ctx, "G2", nhs_number=NHS_B, given_name="Isla", **home))
    loose = register(conn, ctx, "ASC", row(ctx, "A1", given_name="Isla", **home))
    again = register(conn, ctx, "HOSP", row(ctx, "H1", given_name="Evie", **home))
    assert loose.person_id == isla.person_id
    assert again.person_id == evie.person_id
    persons = conn.execute("SELECT count(DISTINCT person_id) FROM link").fetchone()[0]
    assert persons == 2


def test_a_record_without_birth_date_never_links_into_another_systems_identity(conn, ctx):
    _systems(conn)
    home = dict(
        given_name="John",
        family_name="Hayes",
        sex="male",
        address_line="169 Lister Close",
        postcode="WF1 9ZG",
    )
    father = register(conn, ctx, "GP", row(ctx, "G1", birth_date="1958-04-02", **home))
    lone = register(conn, ctx, "HOSP", row(ctx, "H1", **home))
    # the only John Hayes at that address, but without a birth date the evidence is
    # sparse (issue 10): a human decides before HOSP sees the GP's identity
    assert lone.person_id != father.person_id
    assert lone.decision == "review"
    son = register(conn, ctx, "GP", row(ctx, "G2", birth_date="1983-01-30", **home))
    assert son.person_id != father.person_id
    ambiguous = register(conn, ctx, "ASC", row(ctx, "A1", **home))
    assert ambiguous.person_id not in (father.person_id, son.person_id)
    assert ambiguous.decision == "review"


def test_bridging_never_carries_a_record_without_birth_date_into_an_identity(conn, ctx):
    _systems(conn)
    home = dict(
        given_name="John",
        family_name="Hayes",
        sex="male",
        address_line="169 Lister Close",
        postcode="WF1 9ZG",
    )
    father = register(conn, ctx, "GP", row(ctx, "G1", birth_date="1958-04-02", **home))
    son = register(conn, ctx, "GP", row(ctx, "G2", birth_date="1983-01-30", **home))
    ambiguous = register(conn, ctx, "ASC", row(ctx, "A1", **home))
    assert ambiguous.person_id not in (father.person_id, son.person_id)
    again = register(conn, ctx, "HOSP", row(ctx, "H1", birth_date="1958-04-02", **home))
    assert again.person_id == father.person_id
    still = conn.execute(
        "SELECT count(DISTINCT l.person_id) FROM link l JOIN source_record r ON r.id = l.record_id"
    ).fetchone()[0]
    assert still == 3


def test_an_initial_is_not_ambiguous_because_of_a_husband(conn, ctx):
    _systems(conn)
    home = dict(
        family_name="Ashden",
        address_line="140 Beck Lane",
        postcode="BD9 9UJ",
        phone="0113 496 0000",
    )
    sarah = register(
        conn,
        ctx,
        "GP",
        row(ctx, "G1", given_name="Sarah", sex="female", birth_date="1984-12-05", **home),
    )
    register(
        conn,
        ctx,
        "GP",
        row(ctx, "G2", given_name="James", sex="male", birth_date="1979-06-13", **home),
    )
    initial = register(
        conn,
        ctx,
        "HOSP",
        row(ctx, "H1", given_name="S", sex="female", birth_date="1984-12-05", **home),
    )
    assert initial.person_id == sarah.person_id


def test_name_counts_kept_across_batches_match_the_store(conn, ctx):
    from mpi.records import NameCounts, load_batch
    from mpi.store.records import name_counts

    _systems(conn)
    system = systems.get_system(conn, "GP")
    counts = NameCounts()
    first = [
        row(
            ctx,
            f"G{i}",
            given_name="Sarah",
            family_name="Smith",
            birth_date=f"19{50 + i}-01-0{1 + i % 8}",
        )
        for i in range(5)
    ]
    second = [
        row(
            ctx,
            f"G{i}",
            given_name=name,
            family_name=family,
            birth_date=f"19{60 + i}-02-0{1 + i % 8}",
        )
        for i, (name, family) in enumerate(
            [("Sarah", "Jones"), ("Priya", "Smith"), ("Sarah", "Smith")], start=10
        )
    ]
    load_batch(conn, ctx, system, first, name_counts=counts)
    load_batch(conn, ctx, system, second, name_counts=counts)
    total, given, family = name_counts(conn, ["SARAH", "PRIYA"], ["SMITH", "JONES"])
    assert counts.total == total == 8
    assert counts.given["SARAH"] == given["SARAH"] == 7
    assert counts.family["SMITH"] == family["SMITH"] == 7
    assert counts.family["JONES"] == family["JONES"] == 1


def _open_reasons(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute("SELECT reason FROM review_item WHERE status = 'open' ORDER BY id")
    return [r[0] for r in rows.fetchall()]


def test_twins_named_after_each_other_across_systems_are_not_merged(conn, ctx):
    _systems(conn)
    base = dict(
        family_name="Stanshaw",
        birth_date="2016-03-12",
        sex="female",
        address_line="31 Holly Bank",
        postcode="HD3 4RT",
    )
    matilda = register(
        conn, ctx, "GP", row(ctx, "G1", nhs_number=NHS_A, given_name="Matilda Amelia", **base)
    )
    amelia = register(conn, ctx, "HOSP", row(ctx, "H1", given_name="Amelia", **base))
    assert amelia.person_id != matilda.person_id
    assert amelia.decision == "review"
    assert _open_reasons(conn) == ["twin_risk"]


def test_twins_with_variants_of_one_name_are_not_merged(conn, ctx):
    _systems(conn)
    base = dict(
        family_name="Holton",
        birth_date="2022-05-05",
        sex="male",
        address_line="8 Quarry Street",
        postcode="LS12 3PQ",
    )
    jack = register(
        conn, ctx, "GP", row(ctx, "G1", nhs_number=NHS_A, given_name="Jack Arthur", **base)
    )
    sean = register(conn, ctx, "HOSP", row(ctx, "H1", given_name="Seán Henry", **base))
    assert sean.person_id != jack.person_id


def test_a_relatives_nhs_number_of_another_sex_without_birth_date_goes_to_review(conn, ctx):
    _systems(conn)
    home = dict(
        nhs_number=NHS_A, family_name="Williams", address_line="2 Moor Road", postcode="LS6 4AA"
    )
    millie = register(
        conn,
        ctx,
        "GP",
        row(ctx, "G1", given_name="Millie Ava", sex="female", birth_date="1997-07-17", **home),
    )
    jack = register(conn, ctx, "HOSP", row(ctx, "H1", given_name="Jack", sex="male", **home))
    assert jack.person_id != millie.person_id
    assert _open_reasons(conn) == ["nhs_number_shared_conflict"]


def test_spouses_are_not_merged_through_an_initial(conn, ctx):
    _systems(conn)
    home = dict(family_name="Mirza", address_line="17 Oak Avenue", postcode="BD8 9LX")
    usman = register(
        conn,
        ctx,
        "GP",
        row(ctx, "G1", given_name="M Usman", sex="male", birth_date="1970-09-02", **home),
    )
    mariam = register(
        conn,
        ctx,
        "HOSP",
        row(ctx, "H1", given_name="Mariam", sex="female", birth_date="1975-09-02", **home),
    )
    assert mariam.person_id != usman.person_id


def test_a_same_first_name_child_without_birth_date_is_not_merged(conn, ctx):
    _systems(conn)
    home = dict(family_name="Danquah", sex="female", address_line="5 Elm Court", postcode="M14 6RT")
    mother = register(
        conn,
        ctx,
        "GP",
        row(ctx, "G1", given_name="Precious Grace", birth_date="1974-08-04", **home),
    )
    child = register(
        conn, ctx, "HOSP", row(ctx, "H1", given_name="Precious Blessing Mercy", **home)
    )
    assert child.person_id != mother.person_id


def test_a_same_name_pair_at_a_crowded_postcode_scores_lower_than_at_an_ordinary_one(conn, ctx):
    """A care home's postcode, shared by hundreds of residents, is weaker evidence."""
    from mpi.store.records import upsert_records

    _systems(conn)
    system = systems.get_system(conn, "ASC")
    # an index large enough for term frequencies: 300 residents of one care home and
    # 1,900 people elsewhere (stored without matching: only their counts matter here)
    filler = [
        row(
            ctx,
            f"F{i}",
            given_name=f"Resident{i}",
            family_name=f"Family{i}",
            birth_date=f"19{30 + i % 60}-0{1 + i % 9}-1{i % 10}",
            postcode="LS6 2AB" if i < 300 else f"LS{7 + i % 9} {1 + i % 9}B{'DEFGH'[i % 5]}",
        )
        for i in range(2_200)
    ]
    upsert_records(conn, system.id, filler)

    def pair(given: str, family: str, postcode: str) -> Any:
        fields = dict(
            given_name=given,
            family_name=family,
            sex="female",
            birth_date="1931-06-02",
            postcode=postcode,
        )
        register(conn, ctx, "GP", row(ctx, f"G-{family}", **fields))
        result = register(conn, ctx, "HOSP", row(ctx, f"H-{family}", **fields))
        assert result.score is not None
        return result.score

    crowded = pair("Edna", "Ashworth", "LS6 2AB")  # the care home
    ordinary = pair("Edna", "Ashcroft", "LS20 8QT")  # a street: this pair only
    postcode = {
        s: next(f for f in s.fields if f.comparison == "postcode") for s in (crowded, ordinary)
    }
    assert postcode[crowded].level == postcode[ordinary].level == "exact"
    params = ctx.model.comparison("postcode")
    plain = params.weights[[level.label for level in params.levels].index("exact")]
    assert postcode[crowded].weight < plain == postcode[ordinary].weight
    assert crowded.weight < ordinary.weight


def _written(conn: psycopg.Connection[Any]) -> dict[str, list[tuple[Any, ...]]]:
    """What matching wrote, with person IDs as their rank (enterprise IDs are random)."""
    ranks = {pk: i for i, (pk,) in enumerate(conn.execute("SELECT id FROM person ORDER BY id"))}
    queries = {
        "person": "SELECT id, status, merged_into FROM person ORDER BY id",
        "link": "SELECT r.local_id, l.person_id, l.method, l.probability, l.weight,"
        " l.model_version, l.linked_by FROM link l JOIN source_record r ON r.id = l.record_id"
        " ORDER BY r.local_id",
        "history": "SELECT r.local_id, h.person_id, h.previous_person_id, h.method,"
        " h.probability, h.reason, h.changed_by FROM link_history h"
        " JOIN source_record r ON r.id = h.record_id ORDER BY h.id",
        "review": "SELECT r.local_id, i.candidate_person_id, c.local_id, i.probability,"
        " i.weight, i.reason, i.explanation, i.status, i.version FROM review_item i"
        " JOIN source_record r ON r.id = i.record_id"
        " LEFT JOIN source_record c ON c.id = i.candidate_record_id ORDER BY i.id",
        "event": "SELECT e.event_type, e.person_id, e.other_person_id, r.local_id, e.detail,"
        " e.actor FROM identity_event e LEFT JOIN source_record r ON r.id = e.record_id"
        " ORDER BY e.id",
    }
    person_columns = {"person": (0, 2), "link": (1,), "history": (1, 2), "review": (1,)}
    person_columns["event"] = (1, 2)
    written = {}
    for name, sql in queries.items():
        rows = []
        for values in conn.execute(sql).fetchall():
            values = list(values)
            for i in person_columns[name]:
                values[i] = ranks.get(values[i], values[i])
            rows.append(tuple(values))
        written[name] = rows
    return written


def test_one_statement_writes_what_the_separate_writes_write(conn, ctx, monkeypatch):
    """mpi.store.persons.write_all equals the pipeline of one write per kind."""
    from mpi.store import persons as person_store

    person = dict(given_name="Terence", family_name="Barnes", sex="male", birth_date="1955-06-19")
    old_home = dict(address_line="99 Green Lane", postcode="WF1 9XG")
    new_home = dict(address_line="69 Poplar Way", postcode="LS24 8UL")
    records = [
        ("GP", alice(ctx, "G1")),
        ("HOSP", alice(ctx, "H2", given_name="ALICE", postcode="ls62ab")),
        ("ASC", alice(ctx, "A3", nhs_number="", family_name="Okonkwo-Bello", postcode="")),
        ("HOSP", alice(ctx, "H4", nhs_number="", birth_date="1984-03-18", postcode="")),
        ("ASC", row(ctx, "A1", **person, **old_home)),
        ("GP", row(ctx, "G5", nhs_number=NHS_B, **person, **new_home)),
        ("HOSP", row(ctx, "H5", nhs_number=NHS_B, **person, **old_home)),
        ("GP", alice(ctx, "G1", given_name="Bob", family_name="Smith", birth_date="1950-01-01")),
    ]
    _systems(conn)
    runs = []
    for one_statement in (True, False):
        if not one_statement:
            monkeypatch.setattr(person_store, "write_all", lambda *args: False)
        with conn.transaction(force_rollback=True):
            decisions = [register(conn, ctx, s, r).decision for s, r in records]
            runs.append((decisions, _written(conn)))
    assert runs[0] == runs[1]
    decisions = runs[0][0]
    assert {"new_person", "linked", "review"} <= set(decisions)
    assert any(e[0] == "persons_merged" for e in runs[0][1]["event"])
    assert any(e[0] == "record_moved" for e in runs[0][1]["event"])
