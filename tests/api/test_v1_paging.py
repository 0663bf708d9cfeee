"""/v1 searches page: ``limit`` from ``offset``, ``total`` counts every visible match."""

from __future__ import annotations

import pytest

from tests.api.conftest import alice
from tests.helpers import synthetic_nhs_number

GIVEN = ["Alice", "Beatrice", "Cecily", "Dorothy", "Edith"]


def _register_five(client, systems) -> list[str]:
    return [
        client.put(
            f"/v1/systems/GP/records/G{n}",
            json=alice(n, given_name=g),
            headers=systems.headers("GP"),
        ).json["person_id"]
        for n, g in enumerate(GIVEN, start=1)
    ]


def _search(client, headers, **body):
    query = {"family_name": "Smith", "birth_date": "1980-03-15", **body}
    return client.post("/v1/persons/search", json=query, headers=headers)


def test_demographic_search_pages_through_every_match_once(client, systems):
    pids = _register_five(client, systems)
    h = systems.headers("GP")
    seen: list[str] = []
    offset: int | None = 0
    sizes = []
    while offset is not None:
        r = _search(client, h, limit=2, offset=offset)
        assert r.status_code == 200, r.json
        assert r.json["total"] == 5  # the matches, not the page
        sizes.append(len(r.json["matches"]))
        seen += [m["person_id"] for m in r.json["matches"]]
        offset = r.json.get("next_offset")
    assert sizes == [2, 2, 1] and sorted(seen) == sorted(pids)
    whole = _search(client, h).json
    assert whole["total"] == 5 and "next_offset" not in whole
    assert [m["person_id"] for m in whole["matches"]] == seen  # a stable order


def test_total_counts_only_what_the_caller_may_see(client, systems):
    _register_five(client, systems)
    assert _search(client, systems.headers("VIEWER"), limit=1).json == {"matches": [], "total": 0}
    client.put("/v1/systems/HOSP/records/H9", json=alice(9), headers=systems.headers("HOSP"))
    hosp = _search(client, systems.headers("HOSP"), limit=1).json
    assert hosp["total"] == 1 and "next_offset" not in hosp


@pytest.mark.parametrize("offset", [-1, "2", 1.5, True, 100000])
def test_a_bad_offset_is_refused(client, systems, offset):
    r = _search(client, systems.headers("GP"), offset=offset)
    assert r.status_code == 400 and r.json["errors"][0]["field"] == "offset"


def test_nhs_number_search_has_a_total_and_a_working_next_link(client, systems):
    (pid,) = _register_five(client, systems)[:1]
    h = systems.headers("GP")
    nhs = synthetic_nhs_number(1)
    r = client.get(f"/v1/persons?nhs_number={nhs}&limit=1", headers=h)
    assert r.status_code == 200 and r.json["total"] == 1 and "next" not in r.json
    assert r.json["matches"][0]["person_id"] == pid
    for bad in ("x", "-1", "5000"):
        r = client.get(f"/v1/persons?nhs_number={nhs}&offset={bad}", headers=h)
        assert r.status_code == 400 and r.json["errors"][0]["field"] == "offset"
    past = client.get(f"/v1/persons?nhs_number={nhs}&offset=1", headers=h).json
    assert past == {"matches": [], "total": 1}
