"""The broken review flows of issue 11 in a real browser (Debian's Chromium, headless)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg

from tests.e2e.test_review_browser import _claim, _one, _sign_in
from tests.review_data import Scenario
from tests.review_web import PASSWORD


def _item_of(page: Any) -> int:
    page.wait_for_url(re.compile(r"/review/items/\d+$"))
    return int(page.url.rsplit("/", 1)[1])


def test_skip_never_hands_the_item_back(
    pages: list[Any], live_server: str, scenario: Scenario, database_url: str
) -> None:
    page = pages[0]
    _sign_in(page, live_server, "alice")
    seen = []
    for _ in range(3):
        page.keyboard.press("n")  # claim next
        seen.append(_item_of(page))
        page.keyboard.press("k")  # skip
        page.wait_for_url(re.compile(r"done=skipped"))
        assert "will not offer you this item again" in page.get_by_role("status").inner_text()
    assert len(set(seen)) == 3
    page.keyboard.press("n")
    page.wait_for_url(re.compile(r"done=empty"))  # every item skipped by alice
    assert _one(database_url, "SELECT count(*) FROM review_item WHERE claimed_by IS NOT NULL") == 0


def test_four_eyes_first_reviewer_cannot_block_and_the_note_reaches_the_second(
    pages: list[Any], live_server: str, scenario: Scenario, database_url: str, shots: Path
) -> None:
    alice, bob = pages
    _sign_in(alice, live_server, "alice")
    _claim(alice, scenario.john_item)
    alice.get_by_label("Note (optional, kept with the decision)").fill("moved house, same GP")
    alice.get_by_role("button", name="Same person").click()
    alice.get_by_role("button", name="Yes: give the first review").click()
    alice.wait_for_url(re.compile(r"done=first_review"))
    row = alice.locator(f'tr[data-item="{scenario.john_item}"]')
    assert "awaiting another reviewer" in row.inner_text()
    assert row.get_by_role("button").count() == 0  # no Claim for the first reviewer
    row.get_by_role("link", name="view").click()
    assert alice.locator("#await-second").is_visible()
    assert alice.locator("#decide-form").count() == 0

    _sign_in(bob, live_server, "bob")
    _claim(bob, scenario.john_item)
    assert "moved house, same GP" in bob.locator("#first-note").inner_text()
    bob.screenshot(path=str(shots / "review-second-review.png"), full_page=True)
    bob.get_by_role("button", name="Same person").click()
    bob.screenshot(path=str(shots / "review-confirm.png"), full_page=True)
    bob.get_by_role("button", name=f"Yes: merge into {scenario.john}").click()
    bob.wait_for_url(re.compile(r"done=linked"))
    bob.goto(f"{live_server}/review/persons/{scenario.john}")
    assert "2 valid NHS numbers" in bob.locator("#two-nhs").inner_text()
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT decided_by, first_note, second_by FROM review_decision"
        ).fetchone()
    assert row == ("alice", "moved house, same GP", "bob")


def test_an_item_inside_one_person_cannot_be_decided(
    pages: list[Any], live_server: str, scenario: Scenario, database_url: str
) -> None:
    page = pages[0]
    _sign_in(page, live_server, "alice")
    _claim(page, scenario.maybe_item)
    with psycopg.connect(database_url) as conn:  # a load bridges the record into the candidate
        conn.execute(
            "UPDATE link SET person_id = (SELECT id FROM person WHERE person_id = %s)"
            " WHERE record_id = (SELECT id FROM source_record WHERE local_id = 'A1')",
            (scenario.alice,),
        )
    page.get_by_role("button", name="Not the same").click()
    assert page.locator("h1").inner_text().startswith("Nothing left to decide")
    assert "belong to one person" in page.get_by_role("alert").inner_text()
    page.goto(f"{live_server}/review/items/{scenario.maybe_item}")
    assert page.locator("#closed-notice").is_visible()
    assert page.locator("#decide-form").count() == 0
    assert _one(database_url, "SELECT count(*) FROM no_match") == 0


def test_bad_addresses_show_the_error_page(
    pages: list[Any], live_server: str, scenario: Scenario
) -> None:
    page = pages[0]
    _sign_in(page, live_server, "alice")
    for path, status in (
        ("/review/items/abc", 404),
        ("/review/nosuch", 404),
        ("/review/items/1/decide", 405),
    ):
        answer = page.goto(f"{live_server}{path}")
        assert answer.status == status and "text/html" in answer.headers["content-type"]
        assert page.get_by_role("alert").is_visible()
    page.goto(f"{live_server}/review/persons/{scenario.alice.lower()}")
    assert page.url.endswith(f"/review/persons/{scenario.alice}")


def test_sign_out_releases_claims_and_a_note_survives_an_expired_session(
    pages: list[Any], live_server: str, scenario: Scenario, database_url: str
) -> None:
    page = pages[0]
    _sign_in(page, live_server, "alice")
    _claim(page, scenario.maybe_item)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/review/login"))
    claimed = "SELECT claimed_by FROM review_item WHERE id = %s"
    assert _one(database_url, claimed, scenario.maybe_item) is None

    _sign_in(page, live_server, "alice")
    _claim(page, scenario.maybe_item)
    page.get_by_label("Note (optional, kept with the decision)").fill("different middle name")
    with psycopg.connect(database_url) as conn:  # the session times out while typing
        conn.execute("UPDATE reviewer_session SET last_seen_at = now() - interval '1 day'")
    page.get_by_role("button", name="Not the same").click()
    assert "your note is kept" in page.get_by_role("alert").inner_text()
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(rf"/review/items/{scenario.maybe_item}$"))
    note = page.get_by_label("Note (optional, kept with the decision)")
    assert note.input_value() == "different middle name"
    page.get_by_role("button", name="Not the same").click()
    page.wait_for_url(re.compile(r"done=rejected"))
    assert (
        _one(database_url, "SELECT note FROM review_decision WHERE kind = 'no_match'")
        == "different middle name"
    )
