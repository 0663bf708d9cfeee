"""The review UI in a real browser: sign in, decide items, merge, split, undo, races, bad input.

Every change is checked in the database and in the identity event log.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg

from tests.review_data import Scenario, events, item_version, last_event_id, person_of
from tests.review_web import PASSWORD


def _sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/review/")
    assert "/review/login" in page.url  # not signed in: sent to the login form
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/review/$"))


def _one(url: str, sql: str, *params: Any) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql, params).fetchone()
    return row[0] if row else None


def _claim(page: Any, item_id: int) -> None:
    page.locator(f'tr[data-item="{item_id}"]').get_by_role("button").click()
    page.wait_for_url(re.compile(rf"/review/items/{item_id}$"))


def test_sign_in_queue_and_same_person(
    pages: list[Any], live_server: str, scenario: Scenario, database_url: str, shots: Path
) -> None:
    page = pages[0]
    page.goto(f"{live_server}/review/login")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("wrong password, twelve+")
    page.get_by_role("button", name="Sign in").click()
    assert "username or password is wrong" in page.get_by_role("alert").inner_text()
    _sign_in(page, live_server, "alice")
    assert page.locator("#open-count").inner_text() == "3"
    assert page.locator("tr[data-item]").count() == 3
    page.screenshot(path=str(shots / "review-queue.png"), full_page=True)

    _claim(page, scenario.maybe_item)
    # family name and date of birth: not equal, but agreeing as the weights say
    assert page.locator("tr.f-similar").count() == 2 and page.locator("tr.f-differs").count() == 0
    assert page.locator("svg.waterfall rect.bar").count() >= 5
    page.screenshot(path=str(shots / "review-decision.png"), full_page=True)
    before = last_event_id_at(database_url)
    page.keyboard.press("s")  # the "same person" shortcut
    page.wait_for_url(re.compile(r"/review/\?done=linked"))
    assert "Linked" in page.get_by_role("status").inner_text()

    with psycopg.connect(database_url) as conn:
        assert person_of(conn, "A1") == scenario.alice
        assert events(conn, before) == [
            "record_moved",
            "persons_merged",
            "review_decided",
        ]
    assert (
        _one(database_url, "SELECT status FROM review_item WHERE id = %s", scenario.maybe_item)
        == "linked"
    )
    assert (
        _one(
            database_url,
            "SELECT l.method FROM link l JOIN source_record r ON r.id = l.record_id"
            " WHERE r.local_id = 'A1'",
        )
        == "manual"
    )
    assert (
        _one(
            database_url,
            "SELECT count(*) FROM audit_event WHERE system_code = 'review-ui' AND user_id = 'alice'"
            " AND action = 'review.decide' AND outcome = 'success'",
        )
        == 1
    )


def last_event_id_at(url: str) -> int:
    with psycopg.connect(url) as conn:
        return last_event_id(conn)


def test_not_the_same_person_is_respected_by_matching(
    pages: list[Any], live_server: str, scenario: Scenario, database_url: str, ctx: Any
) -> None:
    page = pages[0]
    _sign_in(page, live_server, "bob")
    _claim(page, scenario.maybe_item)
    before = last_event_id_at(database_url)
    page.get_by_label("Note (optional, kept with the decision)").fill("different mother")
    page.get_by_role("button", name="Not the same").click()
    page.wait_for_url(re.compile(r"/review/\?done=rejected"))
    assert page.locator("tr[data-item]").count() == 2

    with psycopg.connect(database_url) as conn:
        assert events(conn, before) == ["no_match_asserted", "review_decided"]
        pairs = conn.execute("SELECT count(*), min(asserted_by) FROM no_match").fetchone()
        assert pairs == (2, "bob")  # against both of the candidate's records
        status = conn.execute(
            "SELECT status, decided_by FROM review_item WHERE id = %s", (scenario.maybe_item,)
        ).fetchone()
        assert status == ("rejected", "bob")
        # the system sends the record again with a change: matching must not link it
        from mpi.records import register
        from tests.helpers import row

        again = register(
            conn,
            ctx,
            "ASC",
            row(
                ctx,
                "A1",
                given_name="Alice",
                family_name="Okonkwo",
                sex="female",
                birth_date="1984-03-17",
                address_line="12 Acacia Road",
                postcode="LS6 2AB",
            ),
        )
        assert again.person_id != scenario.alice
        assert scenario.alice not in again.candidate_person_ids


def test_merge_split_and_undo(
    pages: list[Any], live_server: str, scenario: Scenario, database_url: str, shots: Path
) -> None:
    page = pages[0]
    _sign_in(page, live_server, "alice")
    # merge the possible match's person into Alice's from the identity page
    page.goto(f"{live_server}/review/persons?family_name=Okonkwo")
    page.get_by_role("link", name=scenario.alice).first.click()
    page.get_by_label("Person ID to merge in").fill(scenario.alice_maybe)
    before = last_event_id_at(database_url)
    page.get_by_role("button", name=f"Merge into {scenario.alice}").click()
    page.wait_for_url(re.compile(r"done=merged"))
    with psycopg.connect(database_url) as conn:
        assert person_of(conn, "A1") == scenario.alice
        merged = conn.execute(
            "SELECT p.status, m.person_id FROM person p JOIN person m ON m.id = p.merged_into"
            " WHERE p.person_id = %s",
            (scenario.alice_maybe,),
        ).fetchone()
        assert merged == ("merged", scenario.alice)
        assert events(conn, before) == ["record_moved", "persons_merged"]
    assert page.locator("table.records tbody tr").count() == 3

    # split the hospital record off into a new person
    h1 = _one(database_url, "SELECT id FROM source_record WHERE local_id = 'H1'")
    page.locator(f"#split-{h1}").check()
    before = last_event_id_at(database_url)
    page.get_by_role("button", name="Split the ticked records into a new person").click()
    page.wait_for_url(re.compile(r"done=split"))
    with psycopg.connect(database_url) as conn:
        new_person = person_of(conn, "H1")
        assert new_person not in (scenario.alice, scenario.alice_maybe)
        assert person_of(conn, "G1") == scenario.alice
        assert events(conn, before) == ["person_created", "record_moved", "person_split"]
    assert new_person in page.url

    # undo the split, then the merge, from Alice's history
    page.goto(f"{live_server}/review/persons/{scenario.alice}")
    page.screenshot(path=str(shots / "review-person.png"), full_page=True)
    decisions = page.locator("table.decisions tbody tr")
    assert decisions.count() == 2
    before = last_event_id_at(database_url)
    decisions.first.get_by_role("button", name=re.compile("Undo")).click()
    page.wait_for_url(re.compile(r"done=undone"))
    with psycopg.connect(database_url) as conn:
        assert person_of(conn, "H1") == scenario.alice
        assert events(conn, before) == ["record_moved", "persons_merged", "decision_undone"]
        assert conn.execute("SELECT count(*) FROM no_match").fetchone()[0] == 0
    page.locator("table.decisions tbody tr:not(.undone)").filter(has_text="merge").get_by_role(
        "button", name=re.compile("Undo")
    ).click()
    page.wait_for_url(re.compile(r"done=undone"))
    with psycopg.connect(database_url) as conn:
        assert person_of(conn, "A1") == scenario.alice_maybe
        status = conn.execute(
            "SELECT status, merged_into FROM person WHERE person_id = %s", (scenario.alice_maybe,)
        ).fetchone()
        assert status == ("active", None)
        assert events(conn)[-3:] == ["record_moved", "person_restored", "decision_undone"]
    page.goto(f"{live_server}/review/dashboard")
    today = page.locator("table.perday tbody tr").last
    assert today.locator('a[data-kind="undo"]').inner_text() == "2"  # 2 undos
    page.screenshot(path=str(shots / "review-dashboard.png"), full_page=True)


def test_four_eyes_before_merging_different_nhs_numbers(
    pages: list[Any], live_server: str, scenario: Scenario, database_url: str
) -> None:
    alice, bob = pages
    _sign_in(alice, live_server, "alice")
    _claim(alice, scenario.john_item)
    assert "Four eyes" in alice.locator(".notice.warn").filter(has_text="Four eyes").inner_text()
    alice.get_by_role("button", name="Same person").click()
    assert "first of two reviews" in alice.locator("#consequence").inner_text()
    alice.get_by_role("button", name="Yes: give the first review").click()
    alice.wait_for_url(re.compile(r"done=first_review"))
    with psycopg.connect(database_url) as conn:
        assert person_of(conn, "H7") == scenario.john_dup  # not merged yet
    alice.goto(f"{live_server}/review/items/{scenario.john_item}")
    # the first reviewer cannot give the second review (no decision form; the domain
    # refuses a forged one: tests/mpi/test_review.py)
    assert "another reviewer must give the second" in alice.locator("#await-second").inner_text()

    _sign_in(bob, live_server, "bob")
    assert "2nd review" in bob.locator(f'tr[data-item="{scenario.john_item}"]').inner_text()
    _claim(bob, scenario.john_item)
    bob.get_by_role("button", name="Same person").click()
    bob.get_by_role("button", name=f"Yes: merge into {scenario.john}").click()
    bob.wait_for_url(re.compile(r"done=linked"))
    with psycopg.connect(database_url) as conn:
        assert person_of(conn, "H7") == scenario.john
        row = conn.execute("SELECT decided_by, second_by FROM review_decision").fetchone()
        assert row == ("alice", "bob")


def test_concurrent_decisions_one_wins(
    pages: list[Any], live_server: str, scenario: Scenario, database_url: str, shots: Path
) -> None:
    alice, bob = pages
    _sign_in(alice, live_server, "alice")
    _sign_in(bob, live_server, "bob")
    alice.goto(f"{live_server}/review/items/{scenario.maybe_item}")
    bob.goto(f"{live_server}/review/items/{scenario.maybe_item}")
    alice.get_by_role("button", name="Same person").click()
    alice.wait_for_url(re.compile(r"done=linked"))
    bob.get_by_role("button", name="Not the same").click()
    assert "Someone else got there first" in bob.locator("h1").inner_text()
    assert "already decided by alice" in bob.get_by_role("alert").inner_text()
    bob.screenshot(path=str(shots / "review-conflict.png"))
    with psycopg.connect(database_url) as conn:
        assert person_of(conn, "A1") == scenario.alice  # alice's decision stands
        assert conn.execute("SELECT count(*) FROM no_match").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM review_decision").fetchone()[0] == 1


def test_bad_input_is_refused_cleanly(
    pages: list[Any], live_server: str, scenario: Scenario, database_url: str
) -> None:
    page = pages[0]
    _sign_in(page, live_server, "alice")
    with psycopg.connect(database_url) as conn:
        version = item_version(conn, scenario.maybe_item)
    request = page.request  # shares the browser's session cookie
    forged = request.post(
        f"{live_server}/review/items/{scenario.maybe_item}/decide",
        form={"csrf_token": "forged", "version": str(version), "outcome": "same"},
    )
    assert forged.status == 403
    token = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    stale = request.post(
        f"{live_server}/review/items/{scenario.maybe_item}/decide",
        form={"csrf_token": token, "version": str(version + 7), "outcome": "same"},
    )
    assert stale.status == 409
    unknown = request.post(
        f"{live_server}/review/items/987654/decide",
        form={"csrf_token": token, "version": "1", "outcome": "same"},
    )
    assert unknown.status == 404
    assert page.goto(f"{live_server}/review/persons/NOPE-NOPE-NOPE").status == 404
    assert page.goto(f"{live_server}/review/decisions/5/undo").status == 405
    with psycopg.connect(database_url) as conn:
        assert person_of(conn, "A1") == scenario.alice_maybe  # nothing changed
        assert item_version(conn, scenario.maybe_item) == version
