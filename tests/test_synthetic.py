"""The synthetic connected systems: shape, ground truth, traps and writers (pure, fast)."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from mpi.demo.synthetic import (
    BAD_ROW_REASONS,
    CSV_COLUMNS,
    DEFAULT_SYSTEMS,
    NHS_NUMBER_SYSTEM,
    REFERENCE_DATE,
    TRAP_KINDS,
    VERIFICATION_STATUS_SYSTEM,
    VERIFICATION_STATUS_URL,
    SyntheticDataset,
    SystemSpec,
    generate,
    local_id_system,
    write_csv,
    write_dataset,
    write_fhir_ndjson,
    write_truth,
)

PERSONS = 1500
# Outward AN, ANN, ANA, AAN, AANN, AANA; inward a digit and two letters, never C I K M O V.
POSTCODE = re.compile(
    r"[A-PR-UWYZ](?:[0-9][A-HJKPSTUW0-9]?|[A-HK-Y][0-9][ABEHMNPRVWXY0-9]?)"
    r" [0-9][ABD-HJLNP-UW-Z]{2}"
)


def _is_mod11_valid(digits: str) -> bool:
    """The NHS Data Dictionary check, written out again independently of the generator."""
    if not re.fullmatch(r"[0-9]{10}", digits) or len(set(digits)) == 1:
        return False
    check = 11 - sum(int(d) * (10 - i) for i, d in enumerate(digits[:9])) % 11
    return check != 10 and (0 if check == 11 else check) == int(digits[9])


@pytest.fixture(scope="module")
def dataset() -> SyntheticDataset:
    return generate(PERSONS, seed=11)


@pytest.fixture(scope="module")
def by_key(dataset: SyntheticDataset) -> dict[tuple[str, str], object]:
    return {(code, r.local_id): r for code, rows in dataset.records.items() for r in rows}


def _traps(dataset: SyntheticDataset, kind: str) -> list:
    return [trap for trap in dataset.traps if trap.kind == kind]


def test_same_seed_gives_the_same_dataset_and_another_seed_does_not() -> None:
    first, again, other = generate(300, seed=5), generate(300, seed=5), generate(300, seed=6)
    assert first.records == again.records
    assert first.truth == again.truth
    assert first.traps == again.traps
    assert first.persons == again.persons
    assert first.records != other.records


def test_default_systems_and_persons(dataset: SyntheticDataset) -> None:
    assert [s.code for s in dataset.systems] == [s.code for s in DEFAULT_SYSTEMS]
    assert {s.code for s in dataset.systems} == {
        "RXH_PAS", "RVJ_EPR", "GP_CLUSTER", "MH_TRUST", "ASC", "NEIGHBOUR_PORTAL",
    }  # fmt: skip
    assert len(dataset.persons) == PERSONS


def test_every_person_is_in_at_least_one_system(dataset: SyntheticDataset) -> None:
    assert {pid for _, _, pid in dataset.truth} == set(dataset.persons)


def test_coverage_per_system_is_realistic(dataset: SyntheticDataset) -> None:
    people = Counter(code for code, _, _ in dataset.truth)
    share = {code: count / PERSONS for code, count in people.items()}
    assert 0.85 < share["GP_CLUSTER"] < 0.97
    assert 0.4 < share["RXH_PAS"] < 0.65
    assert 0.4 < share["RVJ_EPR"] < 0.65
    assert 0.06 < share["MH_TRUST"] < 0.16
    assert 0.05 < share["ASC"] < 0.16
    assert 0.15 < share["NEIGHBOUR_PORTAL"] < 0.26
    assert 2.1 < len(dataset.truth) / PERSONS < 2.7


def test_intra_system_duplicates_exist(dataset: SyntheticDataset) -> None:
    per_system_person = Counter((code, pid) for code, _, pid in dataset.truth)
    duplicates = sum(1 for count in per_system_person.values() if count > 1)
    assert 0.005 < duplicates / len(dataset.truth) < 0.04


def test_truth_covers_exactly_the_valid_records(dataset: SyntheticDataset) -> None:
    truth_keys = {(code, local_id) for code, local_id, _ in dataset.truth}
    bad_keys = {(row.system, row.local_id) for row in dataset.bad_rows}
    record_keys = [(code, r.local_id) for code, rows in dataset.records.items() for r in rows]
    assert len(record_keys) == len(set(record_keys)), "local IDs are unique per system"
    assert set(record_keys) == truth_keys | bad_keys
    assert not truth_keys & bad_keys


def test_local_id_formats_differ_per_system(dataset: SyntheticDataset) -> None:
    formats = {
        "RXH_PAS": r"RXH[0-9]{7}",
        "RVJ_EPR": r"RVJ[0-9]{7}",
        "GP_CLUSTER": r"G[0-9]{8}",
        "MH_TRUST": r"MH-[0-9]{6}",
        "ASC": r"ASC[0-9]{6}",
        "NEIGHBOUR_PORTAL": r"np-[0-9a-f]{8}",
    }
    for code, rows in dataset.records.items():
        assert all(re.fullmatch(formats[code], r.local_id) for r in rows), code


def test_persons_have_unique_valid_test_range_nhs_numbers(dataset: SyntheticDataset) -> None:
    numbers = [p.nhs_number for p in dataset.persons.values()]
    assert len(set(numbers)) == len(numbers)
    for number in numbers:
        assert number.startswith("999") and _is_mod11_valid(number), number


def test_recorded_nhs_numbers_are_valid_unless_mistyped(dataset: SyntheticDataset) -> None:
    mistyped = 0
    for code, rows in dataset.records.items():
        for record in rows:
            errors = dataset.record_errors.get((code, record.local_id))
            if not record.nhs_number or errors is None:  # missing, or a bad row
                continue
            digits = record.nhs_number.replace(" ", "").replace("-", "")
            if "nhs_mistyped" in errors:
                mistyped += 1
                continue
            assert digits.startswith("999") and _is_mod11_valid(digits), record
    assert 0.003 < mistyped / len(dataset.truth) < 0.025


def test_mistyped_nhs_numbers_mostly_fail_the_check(dataset: SyntheticDataset, by_key) -> None:
    mistyped = [
        by_key[key].nhs_number.replace(" ", "").replace("-", "")
        for key, errors in dataset.record_errors.items()
        if "nhs_mistyped" in errors
    ]
    failing = sum(not _is_mod11_valid(number) for number in mistyped)
    assert failing / len(mistyped) > 0.7
    owners = {p.nhs_number for p in dataset.persons.values()}
    assert not any(n in owners for n in mistyped if _is_mod11_valid(n))


def test_nhs_number_missing_rates_follow_system_quality(dataset: SyntheticDataset) -> None:
    rates = {}
    for code, rows in dataset.records.items():
        valid = [r for r in rows if (code, r.local_id) in dataset.record_errors]
        rates[code] = sum(not r.nhs_number for r in valid) / len(valid)
    assert rates["GP_CLUSTER"] < rates["RXH_PAS"] < rates["MH_TRUST"] < rates["ASC"]
    assert rates["GP_CLUSTER"] < 0.06
    assert 0.2 < rates["ASC"] < 0.42


def test_verification_status_codes(dataset: SyntheticDataset) -> None:
    gp = dataset.records["GP_CLUSTER"]
    statuses = Counter(r.nhs_number_status for r in gp if r.nhs_number)
    assert statuses["01"] / sum(statuses.values()) > 0.85
    allowed = {"", "01", "02", "03", "04", "05", "06", "07", "08"}
    for rows in dataset.records.values():
        assert {r.nhs_number_status for r in rows} <= allowed


def test_true_postcodes_are_valid_uk_formats(dataset: SyntheticDataset) -> None:
    for person in dataset.persons.values():
        for postcode in (person.postcode, person.previous_postcode):
            if postcode and postcode != "ZZ99 3VZ":
                assert POSTCODE.fullmatch(postcode), postcode
                assert re.match(r"(LS|BD|WF|HX)[0-9]", postcode), postcode
    homeless = [p for p in dataset.persons.values() if p.postcode == "ZZ99 3VZ"]
    assert 0 < len(homeless) < PERSONS * 0.01


def test_birth_dates_span_a_century_with_children(dataset: SyntheticDataset) -> None:
    births = [p.birth_date for p in dataset.persons.values()]
    assert min(births) >= date(1925, 1, 1) and max(births) <= REFERENCE_DATE
    children = sum((REFERENCE_DATE - b).days < 18 * 365 for b in births)
    elderly = sum((REFERENCE_DATE - b).days > 80 * 365 for b in births)
    assert 0.1 < children / PERSONS < 0.3
    assert elderly > 0


def test_names_are_diverse_and_skewed() -> None:
    people = generate(3000, seed=4).persons.values()
    families = Counter(p.family_name for p in people)
    common = {name for name, _ in families.most_common(15)}
    assert {"Smith", "Jones"} <= common
    assert families["Khan"] + families["Patel"] > 0
    assert sum(1 for count in families.values() if count == 1) > 100
    names = {p.given_name for p in people} | set(families)
    assert any("-" in name for name in families)
    assert any("'" in name for name in families)
    assert any(not name.isascii() for name in names)
    assert {p.origin for p in people} >= {"british", "south_asian_muslim", "eastern_european"}
    assert 0.2 < sum(bool(p.middle_names) for p in people) / 3000 < 0.7


def test_each_trap_kind_is_present(dataset: SyntheticDataset) -> None:
    kinds = Counter(trap.kind for trap in dataset.traps)
    assert set(kinds) == set(TRAP_KINDS)
    for kind in TRAP_KINDS:
        involved = sum(len(t.person_ids) for t in _traps(dataset, kind))
        assert 0.005 < involved / PERSONS < 0.06, kind


def test_twins_share_family_name_birth_date_and_address(dataset: SyntheticDataset) -> None:
    twins = _traps(dataset, "twins")
    same_sex = 0
    for trap in twins:
        a, b = (dataset.persons[pid] for pid in trap.person_ids)
        assert a.family_name == b.family_name
        assert a.birth_date == b.birth_date
        assert (a.address_line, a.postcode) == (b.address_line, b.postcode)
        assert a.given_name != b.given_name
        assert a.nhs_number != b.nhs_number
        same_sex += a.sex == b.sex
    assert 0 < same_sex < len(twins)


def test_parent_and_child_share_a_name_and_an_address(dataset: SyntheticDataset) -> None:
    for trap in _traps(dataset, "parent_child_same_name"):
        parent, child = (dataset.persons[pid] for pid in trap.person_ids)
        assert (parent.given_name, parent.family_name) == (child.given_name, child.family_name)
        assert parent.postcode == child.postcode and parent.household == child.household
        assert 20 <= (child.birth_date - parent.birth_date).days / 365.25 <= 40
        assert "Jr" not in child.given_name and parent.nhs_number != child.nhs_number


def test_borrowed_nhs_number_belongs_to_a_relative(dataset: SyntheticDataset, by_key) -> None:
    truth = {(code, local_id): pid for code, local_id, pid in dataset.truth}
    for trap in _traps(dataset, "borrowed_nhs_number"):
        holder, owner = (dataset.persons[pid] for pid in trap.person_ids)
        (key,) = trap.records
        assert truth[key] == holder.person_id
        assert by_key[key].nhs_number == owner.nhs_number != holder.nhs_number
        assert holder.household == owner.household
        assert "nhs_borrowed" in dataset.record_errors[key]


def test_same_name_same_birth_date_strangers(dataset: SyntheticDataset) -> None:
    for trap in _traps(dataset, "same_name_same_dob"):
        a, b = (dataset.persons[pid] for pid in trap.person_ids)
        assert a.given_name.lower() == b.given_name.lower()
        assert a.family_name.lower() == b.family_name.lower()
        assert a.birth_date == b.birth_date
        assert a.household != b.household and a.nhs_number != b.nhs_number


def test_errors_mostly_come_one_at_a_time(dataset: SyntheticDataset) -> None:
    counts = Counter(len(errors) for errors in dataset.record_errors.values())
    total = sum(counts.values())
    assert counts[0] / total > 0.6
    assert sum(n for size, n in counts.items() if size >= 3) / total < 0.015
    seen = Counter(e for errors in dataset.record_errors.values() for e in errors)
    for error in ("nickname", "given_typo", "old_address", "birth_day_month_swapped"):
        assert seen[error] > 0, error


def test_bad_rows_are_invalid_and_not_in_truth(dataset: SyntheticDataset, by_key) -> None:
    truth_keys = {(code, local_id) for code, local_id, _ in dataset.truth}
    assert dataset.bad_rows
    assert {row.reason for row in dataset.bad_rows} == set(BAD_ROW_REASONS)
    total = sum(len(rows) for rows in dataset.records.values())
    assert len(dataset.bad_rows) / total < 0.005
    for row in dataset.bad_rows:
        key = (row.system, row.local_id)
        assert key not in truth_keys and key not in dataset.record_errors
        record = by_key[key]
        if row.reason == "impossible_birth_date":
            with pytest.raises(ValueError):
                date.fromisoformat(record.birth_date)
        elif row.reason == "future_birth_date":
            assert date.fromisoformat(record.birth_date) > REFERENCE_DATE
        else:
            assert record.sex.lower() not in {"m", "f", "u", "male", "female", "unknown", ""}


def test_custom_systems_and_invalid_arguments() -> None:
    systems = [SystemSpec("ONLY_GP", "One practice", "gp", 1)]
    dataset = generate(50, seed=2, systems=systems)
    assert set(dataset.records) == {"ONLY_GP"}
    assert {pid for _, _, pid in dataset.truth} == set(dataset.persons)
    with pytest.raises(ValueError):
        generate(0)
    with pytest.raises(ValueError):
        generate(10, systems=[SystemSpec("X", "X", "pharmacy", 1)])
    with pytest.raises(ValueError):
        generate(10, systems=[systems[0], systems[0]])


def test_csv_has_the_exact_header(dataset: SyntheticDataset, tmp_path: Path) -> None:
    records = dataset.records["GP_CLUSTER"]
    path = write_csv(records, tmp_path / "gp.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == [
        "local_id", "nhs_number", "given_name", "family_name", "sex", "birth_date",
        "address_line", "postcode", "phone",
    ]  # fmt: skip
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [tuple(row) for row in rows[1:]] == [r.csv_row() for r in records]


def test_ndjson_lines_are_fhir_patients(dataset: SyntheticDataset, tmp_path: Path) -> None:
    records = dataset.records["NEIGHBOUR_PORTAL"]
    uri = local_id_system("NEIGHBOUR_PORTAL")
    path = write_fhir_ndjson(records, tmp_path / "portal.ndjson", uri)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(records)
    for line, record in zip(lines, records, strict=True):
        patient = json.loads(line)
        assert patient["resourceType"] == "Patient"
        identifiers = {i["system"]: i for i in patient["identifier"]}
        assert identifiers[uri]["value"] == record.local_id
        if record.nhs_number:
            nhs = identifiers[NHS_NUMBER_SYSTEM]
            assert nhs["value"] == record.nhs_number
            if record.nhs_number_status:
                (extension,) = nhs["extension"]
                assert extension["url"] == VERIFICATION_STATUS_URL
                (coding,) = extension["valueCodeableConcept"]["coding"]
                assert coding == coding | {
                    "system": VERIFICATION_STATUS_SYSTEM,
                    "code": record.nhs_number_status,
                }
        else:
            assert NHS_NUMBER_SYSTEM not in identifiers
        if record.family_name:
            assert patient["name"][0]["family"] == record.family_name
        if record.birth_date:
            assert patient["birthDate"] == record.birth_date
        if record.postcode:
            assert patient["address"][0]["postalCode"] == record.postcode
        if record.sex and (record.sex.lower() in ("male", "female", "m", "f")):
            assert patient["gender"] in ("male", "female")


def test_write_dataset_writes_every_system_and_the_truth(
    dataset: SyntheticDataset, tmp_path: Path
) -> None:
    paths = write_dataset(dataset, tmp_path / "out")
    names = [p.name for p in paths]
    assert names[0] == "GP_CLUSTER.csv" and names[-1] == "truth.csv"
    assert "NEIGHBOUR_PORTAL.ndjson" in names
    assert {p.stem for p in paths[:-1]} == set(dataset.records)
    assert all(p.exists() for p in paths)
    truth_path = write_truth(dataset, tmp_path / "truth.csv")
    with truth_path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["system", "local_id", "person_id"]
    assert [tuple(row) for row in rows[1:]] == dataset.truth
