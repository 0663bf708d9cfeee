"""A third-party FHIR client (``fhirclient``) pages a PDQm search of `mpi serve` through
its ``next`` links, each Bundle valid for ``fhir.resources``."""

from __future__ import annotations

import requests
from fhir.resources.R4B.bundle import Bundle
from fhirclient.models.patient import Patient
from fhirclient.server import FHIRServer

from tests.api.conftest import alice
from tests.api.test_serve import served  # noqa: F401 - the fixture, `mpi serve` for real

GIVEN = ["Alice", "Beatrice", "Cecily", "Dorothy", "Edith"]


def test_fhirclient_follows_next_links_to_every_match(served, systems):  # noqa: F811
    base, _ = served
    gp = requests.Session()
    gp.headers["Authorization"] = f"Bearer {systems.tokens['GP']}"
    pids = set()
    for n, given in enumerate(GIVEN, start=1):
        r = gp.put(f"{base}/v1/systems/GP/records/G{n}", json=alice(n, given_name=given))
        r.raise_for_status()
        pids.add(r.json()["person_id"])
    server = FHIRServer(None, base_uri=f"{base}/fhir/")
    server.session.headers["Authorization"] = f"Bearer {systems.tokens['GP']}"
    search = Patient.where(struct={"family": "Smith", "birthdate": "1980-03-15", "_count": "2"})
    found = [p.id for p in search.perform_resources_iter(server)]
    assert sorted(found) == sorted(pids)  # three pages, each match once
    # the same pages by hand, each Bundle valid R4
    url: str | None = f"{base}/fhir/Patient?family=Smith&birthdate=1980-03-15&_count=2"
    sizes = []
    while url:
        bundle = Bundle.model_validate(gp.get(url).json())
        assert bundle.total == 5
        sizes.append(len(bundle.entry or []))
        url = next((link.url for link in bundle.link or [] if link.relation == "next"), None)
    assert sizes == [2, 2, 1]
