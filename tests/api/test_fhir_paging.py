"""PDQm searches page (``_count``, ``next``, ``total``) and AND every parameter given."""

from __future__ import annotations

from urllib.parse import urlsplit

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from tests.api.test_fhir import GP_URI, HOSP_URI, put

GIVEN = ["Bethan", "Carys", "Delyth", "Eirlys", "Ffion"]


def _register_five(client, systems) -> list[str]:
    """Five different people called Jones, born the same day, held by the GP."""
    return [
        put(
            client, systems, "GP", GP_URI, f"G{n}", n=n, name=[{"family": "Jones", "given": [g]}]
        ).json["id"]
        for n, g in enumerate(GIVEN, start=1)
    ]


def _bundle(r) -> Bundle:
    assert r.status_code == 200, r.json
    return Bundle.model_validate(r.json)


def _link(bundle: Bundle, relation: str) -> str | None:
    found = [link.url for link in bundle.link or [] if link.relation == relation]
    return found[0] if found else None


def _local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _walk(client, headers, first: str) -> tuple[list[str], list[int], list[int]]:
    """Follow ``next`` links from ``first``: the ids seen, each page's size and total."""
    ids: list[str] = []
    sizes: list[int] = []
    totals: list[int] = []
    url: str | None = first
    while url is not None:
        bundle = _bundle(client.get(url, headers=headers))
        page = [e.resource.id for e in bundle.entry or [] if e.search.mode == "match"]
        ids += page
        sizes.append(len(page))
        totals.append(bundle.total)
        nxt = _link(bundle, "next")
        url = _local(nxt) if nxt else None
        assert len(sizes) <= 10, "next links must end"
    return ids, sizes, totals


def test_next_links_page_through_every_match_once_and_total_counts_them_all(client, systems):
    pids = _register_five(client, systems)
    h = systems.headers("GP")
    ids, sizes, totals = _walk(
        client, h, "/fhir/Patient?family=Jones&birthdate=1975-07-04&_count=2"
    )
    assert sorted(ids) == sorted(pids)  # every match, none twice
    assert sizes == [2, 2, 1]
    assert totals == [5, 5, 5]  # the matches, not the page
    again, _, _ = _walk(client, h, "/fhir/Patient?family=Jones&birthdate=1975-07-04&_count=2")
    assert again == ids  # a stable order
    first = _bundle(client.get("/fhir/Patient?family=Jones&birthdate=1975-07-04", headers=h))
    assert first.total == 5 and len(first.entry) == 5 and _link(first, "next") is None
    # a search by POST pages the same, its next link is a GET
    posted = client.post(
        "/fhir/Patient/_search",
        data={"family": "Jones", "birthdate": "1975-07-04", "_count": "3"},
        headers=h,
    )
    bundle = _bundle(posted)
    assert bundle.total == 5 and len(bundle.entry) == 3
    rest, sizes, _ = _walk(client, h, _local(_link(bundle, "next")))
    assert sizes == [2] and sorted([e.resource.id for e in bundle.entry] + rest) == sorted(pids)


def test_identifier_searches_page_too(client, systems):
    _register_five(client, systems)
    tokens = ",".join(f"{GP_URI}|G{n}" for n in range(1, 6))
    ids, sizes, totals = _walk(
        client, systems.headers("GP"), f"/fhir/Patient?identifier={tokens}&_count=4"
    )
    assert sizes == [4, 1] and totals == [5, 5] and len(set(ids)) == 5


def test_a_tampered_cursor_is_bad_input(client, systems):
    _register_five(client, systems)
    h = systems.headers("GP")
    for bad in ("abc", "-1", "1.5", "100000"):
        r = client.get(f"/fhir/Patient?family=Jones&birthdate=1975-07-04&_offset={bad}", headers=h)
        assert r.status_code == 400, bad
        oo = OperationOutcome.model_validate(r.json)
        assert oo.issue[0].expression == ["_offset"]
    beyond = _bundle(
        client.get("/fhir/Patient?family=Jones&birthdate=1975-07-04&_offset=50", headers=h)
    )
    assert beyond.total == 5 and not beyond.entry and _link(beyond, "next") is None


def test_total_counts_only_what_the_caller_may_see(client, systems):
    _register_five(client, systems)
    put(client, systems, "HOSP", HOSP_URI, "H9", n=9, name=[{"family": "Jones", "given": ["Gwen"]}])
    query = "/fhir/Patient?family=Jones&birthdate=1975-07-04&_count=1"
    hosp = _bundle(client.get(query, headers=systems.headers("HOSP")))
    assert hosp.total == 1 and _link(hosp, "next") is None  # its own patient only
    viewer = _bundle(client.get(query, headers=systems.headers("VIEWER")))
    assert viewer.total == 0 and not viewer.entry and _link(viewer, "next") is None
    gp = _bundle(client.get(query, headers=systems.headers("GP")))
    assert gp.total == 5


def test_every_parameter_given_is_anded(client, systems):
    pids = _register_five(client, systems)
    h = systems.headers("GP")

    def total(query: str) -> int:
        return _bundle(client.get(f"/fhir/Patient?{query}", headers=h)).total

    assert total(f"_id={pids[0]}&family=Jones") == 1
    assert total(f"_id={pids[0]}&family=Smith&birthdate=1980-01-01") == 0
    assert total(f"_id={pids[0]}&identifier={GP_URI}|G1") == 1
    assert total(f"_id={pids[0]}&identifier={GP_URI}|G2") == 0
    assert total(f"identifier={GP_URI}|G1&gender=female") == 1
    assert total(f"identifier={GP_URI}|G1&gender=male") == 0
    assert total(f"identifier={GP_URI}|G1,{GP_URI}|G2&given=Carys&family=Jones") == 1
    assert total("family=Jones&birthdate=1975-07-04&gender=male") == 0
    r = client.get(f"/fhir/Patient?_id={pids[1]}&family=Jones", headers=h)
    self_link = _link(_bundle(r), "self")
    assert "_id=" in self_link and "family=Jones" in self_link  # the search as performed


def test_telecom_address_city_and_active_narrow_the_search(client, systems):
    phone = [{"system": "phone", "value": "01274 496000"}]
    put(client, systems, "GP", GP_URI, "G1", n=1, telecom=phone)
    put(
        client,
        systems,
        "GP",
        GP_URI,
        "G2",
        n=2,
        name=[{"family": "Jones", "given": ["Carys"]}],
        address=[{"line": ["9 Kirkgate", "Leeds"], "postalCode": "LS1 6BS"}],
    )
    h = systems.headers("GP")

    def total(query: str) -> int:
        return _bundle(
            client.get(f"/fhir/Patient?family=Jones&birthdate=1975-07-04&{query}", headers=h)
        ).total

    assert total("gender=female") == 2
    assert total("telecom=01274%20496000") == 1
    assert total("telecom=phone|01274496000") == 1
    assert total("telecom=phone|0113") == 0
    assert total("address-city=bradford") == 1
    assert total("address-city=leeds") == 1
    assert total("address-city=york") == 0
    assert total("address=9%20kirk") == 1
    assert total("address=ls16bs") == 1
    assert total("address=2%20Mill&address-city=Leeds") == 0  # ANDed
    assert total("active=true") == 2
    assert total("active=false") == 0
    for query, field in [("active=maybe", "active"), ("telecom=email|a@b", "telecom")]:
        r = client.get(f"/fhir/Patient?family=Jones&birthdate=1975-07-04&{query}", headers=h)
        assert r.status_code == 400 and field in str(r.json), r.json
    r = client.get("/fhir/Patient?address-city=Leeds", headers=h)  # alone: names it
    assert r.status_code == 400 and "address-city" in str(r.json)


def test_mothers_maiden_name_is_ignored_and_said_so(client, systems):
    put(client, systems, "GP", GP_URI, "G1", n=1)
    h = systems.headers("GP")
    r = client.get(
        "/fhir/Patient?family=Jones&birthdate=1975-07-04&mothersMaidenName=Evans", headers=h
    )
    bundle = _bundle(r)
    assert bundle.total == 1
    (note,) = [e.resource for e in bundle.entry if e.search.mode == "outcome"]
    issue = OperationOutcome.model_validate(note.model_dump()).issue[0]
    assert issue.code == "not-supported" and "mothersMaidenName" in issue.diagnostics
    assert "mothersMaidenName" not in _link(bundle, "self")  # the search as performed
    strict = {**h, "Prefer": "handling=strict"}
    r = client.get(
        "/fhir/Patient?family=Jones&birthdate=1975-07-04&mothersMaidenName=Evans", headers=strict
    )
    assert r.status_code == 400
    oo = OperationOutcome.model_validate(r.json)
    assert oo.issue[0].code == "not-supported" and "mothersMaidenName" in str(r.json)
    statement = client.get("/fhir/metadata").json["rest"][0]["resource"][0]
    assert "mothersMaidenName" in statement["documentation"]
    assert "mothersMaidenName" not in {p["name"] for p in statement["searchParam"]}
