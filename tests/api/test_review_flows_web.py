"""The review UI's broken flows of issue 11, through Flask's test client on PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.review_data import Scenario, item_version
from tests.review_web import (
    PASSWORD,
    csrf_of,
    page_csrf,
    sign_in,
)


@pytest.fixture
def alice(module_app: Flask, s: Scenario) -> FlaskClient:
    client = module_app.test_client()
    sign_in(client, "alice")
    return client


@pytest.fixture
def bob(module_app: Flask, s: Scenario) -> FlaskClient:
    client = module_app.test_client()
    sign_in(client, "bob")
    return client


def _one(url: str, sql: str, *params: Any) -> Any:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql, params).fetchone()
    return row[0] if row else None


def _form(client: FlaskClient, item_id: int) -> dict[str, str]:
    page = client.get(f"/review/items/{item_id}")
    version = re.search(r'name="version" value="(\d+)"', page.text)
    assert version, page.text
    return {"csrf_token": csrf_of(page.text), "version": version.group(1)}


def _decide(client: FlaskClient, item_id: int, outcome: str, note: str = "") -> Any:
    """A decision, confirmed (a merge across valid NHS numbers asks first)."""
    return client.post(
        f"/review/items/{item_id}/decide",
        data={**_form(client, item_id), "outcome": outcome, "note": note, "confirmed": "yes"},
    )


def _row(html: str, item_id: int) -> str:
    found = re.search(rf'<tr[^>]*data-item="{item_id}".*?</tr>', html, re.S)
    assert found, f"no row for item {item_id}"
    return found.group(0)


# 1. a stale item


def test_a_decision_on_an_item_inside_one_person_is_refused(
    alice: FlaskClient, s: Scenario, db_url: str
) -> None:
    form = _form(alice, s.maybe_item)
    with psycopg.connect(db_url) as conn:  # the record comes into the candidate person
        conn.execute(
            "UPDATE link SET person_id = (SELECT id FROM person WHERE person_id = %s)"
            " WHERE record_id = (SELECT id FROM source_record WHERE local_id = 'A1')",
            (s.alice,),
        )
    refused = alice.post(
        f"/review/items/{s.maybe_item}/decide", data={**form, "outcome": "different"}
    )
    assert refused.status_code == 409 and refused.mimetype == "text/html"
    assert "closed without a decision: its record and the candidate now belong to one person" in (
        refused.text
    )
    page = alice.get(f"/review/items/{s.maybe_item}")
    assert 'id="closed-notice"' in page.text and 'id="decide-form"' not in page.text
    assert _one(db_url, "SELECT count(*) FROM no_match") == 0
    assert _one(db_url, "SELECT count(*) FROM review_decision") == 0


# 2. skip


def test_skip_goes_to_another_item_and_says_so(alice: FlaskClient, s: Scenario) -> None:
    seen = []
    for _ in range(3):  # n, k, n, k, n
        opened = alice.post("/review/next", data={"csrf_token": page_csrf(alice)})
        assert opened.status_code == 303 and "/review/items/" in opened.headers["Location"]
        item_id = int(opened.headers["Location"].rsplit("/", 1)[1])
        seen.append(item_id)
        skipped = _decide(alice, item_id, "skip")
        assert "done=skipped" in skipped.headers["Location"]
    assert len(set(seen)) == 3
    queue = alice.get("/review/?done=skipped").text
    assert "will not offer you this item again" in queue
    assert "back in the queue for someone else" not in queue
    assert "(also by you)" in _row(queue, seen[0])


# 3. and 4. four eyes: the first reviewer neither blocks the second nor loses the note


def test_the_first_reviewer_is_not_offered_claim_and_the_note_reaches_the_second(
    alice: FlaskClient, bob: FlaskClient, s: Scenario, db_url: str
) -> None:
    first = _decide(alice, s.john_item, "same", "same address history, NHS number typo")
    assert "done=first_review" in first.headers["Location"]
    row = _row(alice.get("/review/").text, s.john_item)
    assert "awaiting another reviewer" in row and "Claim" not in row and "Open" not in row
    version = _one(db_url, "SELECT version FROM review_item WHERE id = %s", s.john_item)
    again = alice.post(
        f"/review/items/{s.john_item}/claim",
        data={"csrf_token": page_csrf(alice), "version": str(version)},
    )
    assert again.status_code == 403 and "you gave the first review" in again.text
    assert _one(db_url, "SELECT claimed_by FROM review_item WHERE id = %s", s.john_item) is None
    assert 'id="await-second"' in alice.get(f"/review/items/{s.john_item}").text

    assert "Claim" in _row(bob.get("/review/").text, s.john_item)
    claimed = bob.post(
        f"/review/items/{s.john_item}/claim",
        data={"csrf_token": page_csrf(bob), "version": str(version)},
    )
    assert claimed.status_code == 303
    page = bob.get(f"/review/items/{s.john_item}").text
    assert "same address history, NHS number typo" in page
    linked = _decide(bob, s.john_item, "same", "agreed")
    assert "done=linked" in linked.headers["Location"]
    person = bob.get(f"/review/persons/{s.john}").text
    assert "same address history, NHS number typo" in person and "agreed" in person


# 5. a merge requested by hand


def test_a_merge_request_is_labelled_first_and_keeps_its_note(
    alice: FlaskClient, bob: FlaskClient, s: Scenario, db_url: str
) -> None:
    with psycopg.connect(db_url) as conn:
        conn.execute("UPDATE review_item SET status = 'superseded' WHERE id = %s", (s.john_item,))
    asked = alice.post(
        f"/review/persons/{s.john}/merge",
        data={
            "csrf_token": page_csrf(alice),
            "other_person_id": s.john_dup,
            "note": "one man, two numbers",
        },
    )
    assert "done=second_review" in asked.headers["Location"]
    queue = bob.get("/review/").text
    first_row = re.search(r"<tbody>\s*(<tr.*?</tr>)", queue, re.S).group(1)
    assert "merge requested by a reviewer" in first_row and "requested by hand" in first_row
    item_id = int(re.search(r'data-item="(\d+)"', first_row).group(1))
    page = bob.get(f"/review/items/{item_id}").text
    assert "Merge requested by alice" in page and 'id="by-hand"' in page
    assert "0.5000" not in page and 'svg class="waterfall"' not in page
    assert "one man, two numbers" in page


# 6. bad URLs and the person ID's case


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/review/items/abc", 404),
        ("/review/items/-1", 404),
        ("/review/nosuch", 404),
        ("/review/items/1/decide", 405),
        ("/review/decisions/5/undo", 405),
        ("/review/logout", 405),
    ],
)
def test_bad_urls_answer_the_html_error_page(alice: FlaskClient, path: str, status: int) -> None:
    answer = alice.get(path)
    assert answer.status_code == status
    assert answer.mimetype == "text/html"
    assert 'class="error" role="alert"' in answer.text
    assert "Sign out" in answer.text  # the reviewer's session is still shown
    assert answer.headers["X-Frame-Options"] == "DENY"
    if status == 405:
        assert "POST" in answer.headers["Allow"]


def test_a_lower_case_person_id_opens_the_person(alice: FlaskClient, s: Scenario) -> None:
    answer = alice.get(f"/review/persons/{s.alice.lower()}")
    assert answer.status_code == 302 and answer.headers["Location"].endswith(s.alice)
    assert s.alice in alice.get(answer.headers["Location"]).text


# 7. filters


def test_the_tiles_and_the_hint_follow_the_filters(
    alice: FlaskClient, s: Scenario, db_url: str
) -> None:
    page = alice.get("/review/?system=ASC").text
    rows = page.count("data-item=")
    assert re.search(r'id="open-count">(\d+)<', page).group(1) == str(rows) == "2"
    assert "queue-hint" not in page  # every matching item is shown
    # more open items than a queue page shows (100): the hint counts the filtered ones
    from mpi.identities import new_enterprise_id

    with psycopg.connect(db_url) as conn:
        a9 = conn.execute("SELECT id FROM source_record WHERE local_id = 'A9'").fetchone()[0]
        for _ in range(205):
            pk = conn.execute(
                "INSERT INTO person (person_id) VALUES (%s) RETURNING id", (new_enterprise_id(),)
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO review_item (record_id, candidate_person_id, probability, weight,"
                " reason, explanation) VALUES (%s, %s, 0.7, 1.0, 'possible_match', '[]')",
                (a9, pk),
            )
    hint = alice.get("/review/?system=ASC&reason=possible_match").text
    assert re.search(r'id="open-count">(\d+)<', hint).group(1) == "206"
    assert "Showing items 1 to 100 of the 206 open items that match these filters" in hint


# 8. signing out and an expired session


def test_signing_out_releases_the_claims(alice: FlaskClient, s: Scenario, db_url: str) -> None:
    claimed = alice.post(
        f"/review/items/{s.maybe_item}/claim",
        data={"csrf_token": page_csrf(alice), "version": str(_version(db_url, s.maybe_item))},
    )
    assert claimed.status_code == 303
    assert _one(db_url, "SELECT claimed_by FROM review_item WHERE id = %s", s.maybe_item) == "alice"
    assert alice.post("/review/logout", data={"csrf_token": page_csrf(alice)}).status_code == 303
    assert _one(db_url, "SELECT claimed_by FROM review_item WHERE id = %s", s.maybe_item) is None


def _version(url: str, item_id: int) -> int:
    with psycopg.connect(url) as conn:
        return item_version(conn, item_id)


def test_a_note_typed_before_the_session_expired_survives_signing_in(
    alice: FlaskClient, s: Scenario, db_url: str
) -> None:
    form = _form(alice, s.maybe_item)
    with psycopg.connect(db_url) as conn:  # the session ends while the reviewer types
        conn.execute("UPDATE reviewer_session SET last_seen_at = now() - interval '1 day'")
    note = "mother's maiden name <matches> & the GP confirmed"
    sent = alice.post(
        f"/review/items/{s.maybe_item}/decide",
        data={**form, "outcome": "different", "note": note},
    )
    assert sent.status_code == 403 and "not signed in" in sent.text
    assert "decision was not applied" in sent.text
    carried = re.search(r'name="carried_note" value="([^"]*)"', sent.text).group(1)
    assert "&lt;matches&gt;" in carried  # escaped in the form
    login = alice.post(
        "/review/login",
        data={
            "username": "alice",
            "password": PASSWORD,
            "csrf_token": csrf_of(sent.text),
            "next": f"/review/items/{s.maybe_item}",
            "carried_note": note,
        },
    )
    assert login.status_code == 303
    assert login.headers["Location"].endswith(f"/review/items/{s.maybe_item}")
    page = alice.get(login.headers["Location"]).text
    assert "mother&#39;s maiden name &lt;matches&gt; &amp; the GP confirmed</textarea>" in page
    assert 'id="carried-notice"' in page
    again = alice.get(f"/review/items/{s.maybe_item}").text
    assert 'maxlength="1000"></textarea>' in again  # shown once: the next view is empty
    assert _one(db_url, "SELECT status FROM review_item WHERE id = %s", s.maybe_item) == "open"


# Pages a reviewer can trust: why the item is here, and an NHS number clash from any record


def test_the_page_says_why_and_shows_an_nhs_clash_from_any_record(
    alice: FlaskClient, s: Scenario, db_url: str, ctx: Any
) -> None:
    from matching.nhs_number import format_nhs_number
    from mpi.records import register
    from tests.helpers import row
    from tests.review_data import NHS_A, NHS_C

    page = alice.get(f"/review/items/{s.maybe_item}").text
    why = re.search(r'<p class="why" id="why">(.*?)</p>', page, re.S).group(1)
    assert "likely the same person" in why and "between the review threshold (0.5)" in why
    assert 'id="nhs-clash"' not in page  # the record has no NHS number: nothing clashes
    with psycopg.connect(db_url) as conn:  # another record of the record's person has one
        other = register(
            conn,
            ctx,
            "HOSP",
            row(
                ctx,
                "H88",
                nhs_number=NHS_C,
                given_name="Zed",
                family_name="Quill",
                birth_date="1930-01-01",
            ),
        )
        conn.execute(
            "UPDATE link SET person_id = (SELECT id FROM person WHERE person_id = %s)"
            " WHERE record_id = (SELECT id FROM source_record WHERE local_id = 'H88')",
            (s.alice_maybe,),
        )
        assert other.person_id != s.alice_maybe
    page = alice.get(f"/review/items/{s.maybe_item}").text
    # the field table compares A1 (no NHS number) with the candidate's record: "missing"
    assert re.search(r'<tr class="f-missing">\s*<th scope="row">NHS number', page)
    clash = re.search(r'id="nhs-clash">(.*?)</div>', page, re.S).group(1)
    assert 'HOSP H88 carries <b class="nhs">' + format_nhs_number(NHS_C) in clash
    assert format_nhs_number(NHS_A) in clash and "the candidate" in clash
    four_eyes = alice.get(f"/review/items/{s.john_item}").text
    assert "different valid NHS numbers" in re.search(r'id="why">(.*?)</p>', four_eyes, re.S).group(
        1
    )
    assert "Its match probability" in four_eyes  # with the score band


def test_the_field_table_agrees_with_the_weights(alice: FlaskClient, s: Scenario) -> None:
    page = alice.get(f"/review/items/{s.maybe_item}").text
    # Okonkwo-Bello / Okonkwo and 17th / 18th March score positive weights: never "≠"
    assert 'class="f-differs"' not in page
    family = re.search(r'<tr class="f-similar">\s*<th scope="row">Family name.*?</tr>', page, re.S)
    assert family and "shares a part" in family.group(0)
    born = re.search(r'<tr class="f-similar">\s*<th scope="row">Date of birth.*?</tr>', page, re.S)
    assert born and "one digit or day apart" in born.group(0)
    # a probability a safety rule overrides says so, with the rule
    four_eyes = alice.get(f"/review/items/{s.john_item}").text
    badge = re.search(r'id="overridden">(.*?)</span>', four_eyes, re.S)
    assert badge and "overridden by a safety rule: different NHS numbers" in badge.group(1)
    assert 'id="overridden"' not in page  # a possible match below the link threshold


def test_same_person_across_nhs_numbers_is_not_pushed_and_asks_first(
    alice: FlaskClient, bob: FlaskClient, s: Scenario, db_url: str
) -> None:
    from matching.nhs_number import format_nhs_number
    from tests.review_data import NHS_B, NHS_C

    page = alice.get(f"/review/items/{s.john_item}").text
    same = re.search(r'<button[^>]*id="btn-same"[^>]*>', page).group(0)
    assert 'class="primary"' not in same  # the risky answer is not the primary button
    plain = alice.get(f"/review/items/{s.maybe_item}").text
    assert 'class="primary"' in re.search(r'<button[^>]*id="btn-same"[^>]*>', plain).group(0)

    asked = alice.post(
        f"/review/items/{s.john_item}/decide",
        data={**_form(alice, s.john_item), "outcome": "same", "note": "typo in the number"},
    )
    assert asked.status_code == 200 and 'id="consequence"' in asked.text
    assert "first of two reviews" in asked.text and "H7" in asked.text
    golden = re.search(r'id="golden-nhs">([^<]+)<', asked.text).group(1)
    assert golden in (format_nhs_number(NHS_B), format_nhs_number(NHS_C))
    assert (
        _one(db_url, "SELECT first_review_by FROM review_item WHERE id = %s", s.john_item) is None
    )
    confirmed = alice.post(
        f"/review/items/{s.john_item}/decide",
        data={
            "csrf_token": csrf_of(asked.text),
            "version": re.search(r'name="version" value="(\d+)"', asked.text).group(1),
            "outcome": "same",
            "confirmed": "yes",
            "note": re.search(r'name="note" value="([^"]*)"', asked.text).group(1),
        },
    )
    assert "done=first_review" in confirmed.headers["Location"]
    assert (
        _one(db_url, "SELECT first_review_note FROM review_item WHERE id = %s", s.john_item)
        == "typo in the number"
    )
    second = _decide(bob, s.john_item, "same")
    assert "done=linked" in second.headers["Location"]
    person = bob.get(f"/review/persons/{s.john}").text
    warning = re.search(r'id="two-nhs">(.*?)</p>', person, re.S).group(1)
    assert format_nhs_number(NHS_B) in warning and format_nhs_number(NHS_C) in warning
    golden_row = re.search(r'<th scope="row">NHS number</th><td>([^<]+)</td>', person)
    assert golden_row and re.fullmatch(r"\d{3} \d{3} \d{4}", golden_row.group(1))


def test_reviewer_words_instead_of_internal_terms(
    alice: FlaskClient, s: Scenario, db_url: str
) -> None:
    assert _decide(alice, s.maybe_item, "same").status_code == 303
    person = alice.get(f"/review/persons/{s.alice}").text
    for internal in ("review_linked", "(manual)", "(auto)", "0 moved", "no-match", ">link<"):
        assert internal not in person, internal
    assert "a reviewer decided: same person" in person  # link history
    assert "1 record moved" in person and ">same person" in person  # the decision
    assert "automatic match" in person and "by a reviewer" in person  # how linked
    page = alice.get(f"/review/items/{s.maybe_item}").text
    assert "version" not in re.search(r'<p class="meta">(.*?)</p>', page, re.S).group(1)
    # a 409 says what happened: alice decided it herself, nobody "got there first"
    version = _one(db_url, "SELECT version FROM review_item WHERE id = %s", s.maybe_item)
    again = alice.post(
        f"/review/items/{s.maybe_item}/decide",
        data={"csrf_token": page_csrf(alice), "version": str(version), "outcome": "different"},
    )
    assert again.status_code == 409 and "Already decided" in again.text
    assert "you decided review item" in again.text and "Someone else" not in again.text


def test_search_reads_what_a_reviewer_types(alice: FlaskClient, s: Scenario, db_url: str) -> None:
    def persons(query: str) -> list[str]:
        page = alice.get(f"/review/persons?{query}")
        assert page.status_code == 200, page.text
        return re.findall(r'<tr data-person="([^"]+)"', page.text)

    assert persons("family_name=Alice&given_name=Okonkwo") == [s.alice]  # either order
    assert persons("family_name=Okonkwo") == [s.alice]  # one row for G1 and H1
    assert s.alice in persons("family_name=Okonkow&given_name=Alcie&birth_date=17/03/1984")
    assert persons("birth_date=17/03/1984") == persons("birth_date=1984-03-17")  # UK dates
    bad = alice.get("/review/persons?nhs_number=999 000 0001")
    assert bad.status_code == 400 and "is not a valid NHS number (check digit" in bad.text
    with psycopg.connect(db_url) as conn:
        from mpi import identities

        identities.merge(conn, s.alice, s.alice_maybe, "alice")
    page = alice.get(f"/review/persons?person_id={s.alice_maybe.lower()}").text
    assert f"{s.alice_maybe} was merged into" in page
    assert re.findall(r'<tr data-person="([^"]+)"', page) == [s.alice]


def test_the_second_review_tile_is_a_link_to_those_items(alice: FlaskClient, s: Scenario) -> None:
    _decide(alice, s.john_item, "same")
    queue = alice.get("/review/").text
    tile = re.search(r'<a class="stat" id="second-tile" href="([^"]+)"', queue)
    assert tile and "1</span>" in queue.split('id="second-tile"')[1][:200]
    waiting = alice.get(tile.group(1).replace("&amp;", "&")).text
    assert re.findall(r'data-item="(\d+)"', waiting) == [str(s.john_item)]
    assert re.search(r'id="open-count">(\d+)<', waiting).group(1) == "1"
