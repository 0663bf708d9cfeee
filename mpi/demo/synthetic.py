"""Synthetic patients as the connected systems of a regional shared care record hold them.

:func:`generate` builds a population of households at West Yorkshire addresses (couples,
children, lone parents, three generations, sharers, a few people of no fixed abode) and
registers each person in a random subset of the connected systems. Each system keeps its
own copy with its own local ID and its own habits and mistakes: missing or mistyped NHS
numbers, nicknames, typos, maiden names, old addresses, swapped day and month. The
ground truth says which records are the same person.

The world holds the traps a master patient index must not merge: twins, a parent and
child with the same name at one address, a relative's NHS number on the wrong record, and
unrelated people with a common name born on the same day (``SyntheticDataset.traps``).
A few rows are invalid on purpose and a loader must reject them
(``SyntheticDataset.bad_rows``); they are not in the truth.

Output is deterministic for a seed. Every NHS number is in the 999 test range, every phone
number is in an Ofcom drama range, and everything is "as at" :data:`REFERENCE_DATE`.

Sex codes differ by system: ``M``/``F``/``U``, ``male``/``female``/``unknown`` or
``Male``/``Female``/``Unknown``. Dates of birth are ISO ``YYYY-MM-DD``.

Example:
    >>> dataset = generate(1000, seed=7)
    >>> paths = write_dataset(dataset, Path("demo-data"))
"""

from __future__ import annotations

import csv
import json
import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import cache
from itertools import accumulate, combinations
from pathlib import Path

from matching.nhs_number import generate_check_digit
from mpi.demo import synthetic_names as tables
from mpi.fhir_patient import NHS_NUMBER_SYSTEM, VERIFICATION_STATUS_URL
from mpi.loading import CSV_COLUMNS

REFERENCE_DATE = date(2025, 6, 30)
VERIFICATION_STATUS_SYSTEM = (
    "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland"
)
NO_FIXED_ABODE = "ZZ99 3VZ"
TRAP_KINDS = ("twins", "parent_child_same_name", "borrowed_nhs_number", "same_name_same_dob")
BAD_ROW_REASONS = ("impossible_birth_date", "future_birth_date", "invalid_sex")
SYSTEM_KINDS = ("hospital", "gp", "mental-health", "social-care", "portal")

_EARLIEST_BIRTH = date(1925, 1, 1)
_STATUS_DISPLAY = {
    "01": "Number present and verified",
    "02": "Number present but not traced",
    "03": "Trace required",
    "04": "Trace attempted - No match or multiple match found",
    "05": "Trace needs to be resolved - (NHS number or patient detail conflict)",
    "06": "Trace in progress",
    "07": "Number not present and trace not required",
    "08": "Trace postponed (baby under six weeks old)",
}


@dataclass(frozen=True, slots=True)
class SystemSpec:
    """A connected system; ``trust_rank`` 1 is the most trusted source for survivorship."""

    code: str
    name: str
    kind: str
    trust_rank: int


DEFAULT_SYSTEMS: tuple[SystemSpec, ...] = (
    SystemSpec("RXH_PAS", "Riverside Hospitals patient administration system", "hospital", 2),
    SystemSpec("RVJ_EPR", "Valley Royal Infirmary electronic patient record", "hospital", 2),
    SystemSpec("GP_CLUSTER", "GP practices of the region", "gp", 1),
    SystemSpec("MH_TRUST", "Moorside mental health trust", "mental-health", 3),
    SystemSpec("ASC", "Adult social care", "social-care", 4),
    SystemSpec("NEIGHBOUR_PORTAL", "Neighbouring region's shared care portal", "portal", 5),
)


@dataclass(frozen=True, slots=True)
class SyntheticRecord:
    """One system's record of a person: the CSV columns plus the NHS number status.

    Every field is a string and ``""`` means missing. ``nhs_number_status`` is the UK Core
    verification status code (``"01"``..``"08"``) and is written only to FHIR output.
    """

    local_id: str
    nhs_number: str
    given_name: str
    family_name: str
    sex: str
    birth_date: str
    address_line: str
    postcode: str
    phone: str
    nhs_number_status: str = ""

    def csv_row(self) -> tuple[str, ...]:
        """Return the values in :data:`CSV_COLUMNS` order."""
        return (
            self.local_id,
            self.nhs_number,
            self.given_name,
            self.family_name,
            self.sex,
            self.birth_date,
            self.address_line,
            self.postcode,
            self.phone,
        )


@dataclass(frozen=True, slots=True)
class SyntheticPerson:
    """The true identity behind the records (what a perfect registration would hold).

    ``previous_*`` fields are ``""`` unless the person changed surname or moved; systems
    that have not caught up still hold them. ``origin`` names the group the names were
    drawn from.
    """

    person_id: str
    nhs_number: str
    given_name: str
    middle_names: tuple[str, ...]
    family_name: str
    previous_family_name: str
    sex: str
    birth_date: date
    address_line: str
    postcode: str
    previous_address_line: str
    previous_postcode: str
    phone: str
    household: int
    origin: str


@dataclass(frozen=True, slots=True)
class Trap:
    """A situation a master patient index must not merge.

    ``person_ids`` are the true persons involved: ``(twin, twin)``, ``(parent, child)``,
    ``(holder, owner)`` of a borrowed NHS number, or two strangers. ``records`` names the
    ``(system, local_id)`` of the record carrying a borrowed number.
    """

    kind: str
    person_ids: tuple[str, ...]
    records: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row a loader must reject, and why; it is not in the truth."""

    system: str
    local_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class SyntheticDataset:
    """Records per system, ground truth and the traps and errors placed in them.

    Attributes:
        systems: the systems, in the order given to :func:`generate`.
        records: system code -> records, in local ID order (bad rows included).
        truth: ``(system, local_id, person_id)`` for every valid record.
        persons: person ID -> the true identity.
        traps: the traps placed (and any same-name, same-birthday strangers that arose).
        bad_rows: the invalid rows, with the reason.
        record_errors: ``(system, local_id)`` -> the errors applied to that record, such
            as ``nhs_missing``, ``nickname`` or ``old_address``; ``()`` for a clean record.
    """

    systems: tuple[SystemSpec, ...]
    records: dict[str, list[SyntheticRecord]]
    truth: list[tuple[str, str, str]]
    persons: dict[str, SyntheticPerson]
    traps: list[Trap]
    bad_rows: list[BadRow]
    record_errors: dict[tuple[str, str], tuple[str, ...]]


# ---------------------------------------------------------------------------------------
# System profiles: how much each kind of system gets wrong, and how it writes things


@dataclass(frozen=True, slots=True)
class _Profile:
    """How a kind of system records people.

    ``quality`` multiplies the per-field error rates (lower is better); ``staleness`` is
    the chance a record was not updated after a move or a change of surname;
    ``middle_names`` the chance middle names are kept in ``given_name``; ``abbreviate``
    the chance of "Acacia Rd" for "Acacia Road". ``sex_codes`` are (male, female, unknown).
    """

    quality: float
    nhs_missing: float
    statuses: tuple[tuple[str, float], ...]
    staleness: float
    phone_missing: float
    middle_names: float
    sex_codes: tuple[str, str, str]
    id_format: str
    nhs_spaced: float = 0.0
    nhs_dashed: float = 0.0
    abbreviate: float = 0.1
    is_upper: bool = False
    is_ascii: bool = False


_PROFILES: dict[str, _Profile] = {
    "gp": _Profile(
        quality=0.5,
        nhs_missing=0.02,
        statuses=(("01", 0.95), ("02", 0.04), ("03", 0.01)),
        staleness=0.08,
        phone_missing=0.3,
        middle_names=0.7,
        sex_codes=("male", "female", "unknown"),
        id_format="G{:08d}",
        abbreviate=0.05,
    ),
    "hospital": _Profile(
        quality=1.0,
        nhs_missing=0.08,
        statuses=(("01", 0.85), ("02", 0.08), ("03", 0.04), ("", 0.03)),
        staleness=0.4,
        phone_missing=0.4,
        middle_names=0.5,
        sex_codes=("M", "F", "U"),
        id_format="{code3}{:07d}",
        nhs_spaced=0.03,
        nhs_dashed=0.01,
        abbreviate=0.15,
    ),
    "mental-health": _Profile(
        quality=1.2,
        nhs_missing=0.15,
        statuses=(("01", 0.7), ("02", 0.15), ("03", 0.05), ("", 0.1)),
        staleness=0.5,
        phone_missing=0.4,
        middle_names=0.3,
        sex_codes=("M", "F", "U"),
        id_format="MH-{:06d}",
        nhs_spaced=0.05,
        abbreviate=0.2,
    ),
    "social-care": _Profile(
        quality=1.6,
        nhs_missing=0.30,
        statuses=(("01", 0.45), ("02", 0.3), ("", 0.25)),
        staleness=0.5,
        phone_missing=0.3,
        middle_names=0.3,
        sex_codes=("Male", "Female", "Unknown"),
        id_format="ASC{:06d}",
        nhs_spaced=0.15,
        nhs_dashed=0.03,
        abbreviate=0.3,
    ),
    "portal": _Profile(
        quality=1.6,
        nhs_missing=0.20,
        statuses=(("01", 0.6), ("02", 0.2), ("", 0.2)),
        staleness=0.6,
        phone_missing=0.6,
        middle_names=0.4,
        sex_codes=("male", "female", "unknown"),
        id_format="np-{:08x}",
    ),
}
# The older hospital PAS writes upper case ASCII only; the other hospital's EPR does not.
_PROFILE_OVERRIDES: dict[str, _Profile] = {
    "RXH_PAS": replace(_PROFILES["hospital"], is_upper=True, is_ascii=True),
}
_MISSING_STATUSES = (("07", 0.4), ("03", 0.2), ("04", 0.1), ("", 0.3))
_MISTYPED_STATUSES = (("02", 0.5), ("", 0.3), ("03", 0.2))
_BAD_SEX_CODES = ("Q", "?", "Z", "MF", "Yes")


def _profile(spec: SystemSpec) -> _Profile:
    return _PROFILE_OVERRIDES.get(spec.code) or _PROFILES[spec.kind]


def _coverage(kind: str, age: int) -> float:
    """Chance that a person of ``age`` is registered with a system of ``kind``."""
    if kind == "gp":
        return 0.9
    if kind == "hospital":
        return 0.40 + 0.003 * age
    if kind == "mental-health":
        return 0.03 if age < 12 else 0.115
    if kind == "social-care":
        return 0.005 if age < 18 else 0.04 if age < 65 else 0.18 if age < 80 else 0.5
    return 0.2


# ---------------------------------------------------------------------------------------
# Small helpers


@cache
def _cum_weights(key: tuple[str, ...], offset: float) -> list[float]:
    weights = [tables.NAME_BOOST.get(name, 1.0) / (i + offset) for i, name in enumerate(key)]
    return list(accumulate(weights))


def _skewed(rng: random.Random, names: tuple[str, ...], offset: float = 4.0) -> str:
    return rng.choices(names, cum_weights=_cum_weights(names, offset))[0]


def _pick(rng: random.Random, options: tuple[tuple[str, float], ...]) -> str:
    u = rng.random() * sum(weight for _, weight in options)
    for value, weight in options:
        u -= weight
        if u < 0:
            return value
    return options[-1][0]


def _draw(rng: random.Random, q: float, options: tuple[tuple[str, float], ...]) -> str | None:
    """At most one error from ``options`` (name, base rate), rates scaled by ``q``."""
    u = rng.random()
    for name, rate in options:
        u -= rate * q
        if u < 0:
            return name
    return None


_ASCII_FOLD = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss", "\u2019": "'"})


def _strip_accents(text: str) -> str:
    if text.isascii():
        return text
    folded = unicodedata.normalize("NFKD", text.translate(_ASCII_FOLD))
    return "".join(c for c in folded if not unicodedata.combining(c))


def _typo(rng: random.Random, text: str) -> str:
    """One keying slip: swap two letters, replace, drop or double one (rarely the first)."""
    letters = [i for i, c in enumerate(text) if c.isalpha()]
    if len(letters) < 3:
        return text + "h"
    for _ in range(6):
        i = rng.choice(letters[1:]) if rng.random() < 0.9 else letters[0]
        op = rng.random()
        if op < 0.3 and i + 1 < len(text) and text[i + 1].isalpha():
            out = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        elif op < 0.6:
            letter = rng.choice("abcdefghijklmnoprstuwy")
            out = text[:i] + (letter.upper() if text[i].isupper() else letter) + text[i + 1 :]
        elif op < 0.8:
            out = text[:i] + text[i + 1 :]
        else:
            out = text[:i] + text[i] + text[i:]
        if out.lower() != text.lower():
            return out
    return text + "e"


def _postcode_typo(rng: random.Random, postcode: str) -> str:
    outward, inward = postcode.split(" ")
    op = rng.random()
    if op < 0.3 and inward[1] != inward[2]:
        return f"{outward} {inward[0]}{inward[2]}{inward[1]}"
    if op < 0.7:
        letters = tables.INWARD_LETTERS.replace(inward[2], "")
        return f"{outward} {inward[:2]}{rng.choice(letters)}"
    digit = rng.choice("0123456789".replace(inward[0], ""))
    return f"{outward} {digit}{inward[1:]}"


def _safe_date(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, 28) if month == 2 else day)


# ---------------------------------------------------------------------------------------
# The population: households, people, relationships


@dataclass(slots=True)
class _Household:
    number: int
    address_line: str
    postcode: str
    previous_address_line: str = ""
    previous_postcode: str = ""


@dataclass(slots=True)
class _Person:
    pid: str
    sex: str
    birth: date
    given: str
    middle: tuple[str, ...]
    family: str
    origin: str
    household: _Household
    nhs: str
    previous_family: str = ""
    recent_name_change: bool = False
    phone: str = ""
    previous_phone: str = ""

    def age(self) -> int:
        return (REFERENCE_DATE - self.birth).days // 365


@dataclass(slots=True)
class _Street:
    name: str
    outward: str
    sector: int
    units: tuple[str, ...]


_HOUSEHOLD_KINDS = (
    ("single", 0.29),
    ("couple", 0.25),
    ("family", 0.27),
    ("lone_parent", 0.08),
    ("three_generations", 0.04),
    ("adult_child", 0.03),
    ("sharers", 0.025),
    ("strangers", 0.017),
    ("no_fixed_abode", 0.006),
)
_MIDDLE_NAME_RATE = {
    "british": 0.55,
    "south_asian_muslim": 0.25,
    "indian": 0.2,
    "eastern_european": 0.05,
    "west_african": 0.5,
    "caribbean": 0.4,
    "chinese": 0.1,
    "arabic_somali": 0.1,
}
_TWIN_RATE = 0.045
_NAMED_AFTER_PARENT_RATE = 0.09
_MOVED_RATE = 0.12


class _Population:
    """Builds households of people, and remembers who is related to whom."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.people: list[_Person] = []
        self.twins: list[tuple[_Person, _Person]] = []
        self.same_name: list[tuple[_Person, _Person]] = []
        self.relatives: list[tuple[_Person, _Person]] = []  # (holder, owner) candidates
        self.nhs_numbers: set[str] = set()
        self._streets: list[_Street] = []
        self._addresses: set[tuple[str, str]] = set()
        self._households = 0
        self._phones = self._phone_pool()
        self._phone_next = 0
        self._origins = tuple(tables.ORIGIN_WEIGHTS)
        self._origin_cum = list(accumulate(tables.ORIGIN_WEIGHTS.values()))
        self._areas = tables.POSTCODE_DISTRICTS
        self._area_cum = list(accumulate(area[3] for area in self._areas))
        self._street_types = tables.STREET_TYPES
        self._type_cum = list(accumulate(kind[1] for kind in self._street_types))
        self._rare = tuple(
            root + ending
            for root in tables.RARE_SURNAME_ROOTS
            for ending in tables.RARE_SURNAME_ENDINGS
        )

    # -- identifiers -------------------------------------------------------------------

    def _phone_pool(self) -> list[str]:
        pool = [
            f"{prefix}{first + n:0{digits}d}"
            for prefix, first, digits in tables.PHONE_RANGES
            for n in range(1000)
        ]
        self.rng.shuffle(pool)
        return pool

    def new_phone(self) -> str:
        phone = self._phones[self._phone_next % len(self._phones)]
        self._phone_next += 1
        return phone

    def new_nhs_number(self, after: str | None = None) -> str:
        """A fresh valid 999 number; with ``after``, the next one issued after it."""
        stem = int(after[:9]) if after else None
        while True:
            if stem is None:
                candidate = 999_000_000 + self.rng.randrange(1_000_000)
            else:
                stem = candidate = stem + 1 if stem < 999_999_998 else 999_000_000
            check = generate_check_digit(str(candidate))
            number = f"{candidate}{check}"
            if check is not None and number not in self.nhs_numbers and number != "9" * 10:
                self.nhs_numbers.add(number)
                return number

    def mistype(self, number: str) -> str:
        """A slip when keying ``number``: mostly failing Modulus 11, sometimes a valid
        number that belongs to nobody."""
        rng = self.rng
        if rng.random() < 0.15:
            return self.new_nhs_number(after=number[:8] + str(rng.randrange(10)) + "0")
        i = rng.randrange(9)
        if rng.random() < 0.5 and number[i] != number[i + 1]:
            return number[:i] + number[i + 1] + number[i] + number[i + 2 :]
        j = rng.randrange(3, 10)
        return number[:j] + rng.choice("0123456789".replace(number[j], "")) + number[j + 1 :]

    # -- addresses ---------------------------------------------------------------------

    def _street(self) -> _Street:
        rng = self.rng
        crowded = len(self._addresses) > 12 * len(self._streets)
        if self._streets and not crowded and rng.random() > 0.05:
            return rng.choice(self._streets)
        area, low, high, _ = rng.choices(self._areas, cum_weights=self._area_cum)[0]
        kind = rng.choices(self._street_types, cum_weights=self._type_cum)[0][0]
        units = tuple(
            rng.choice(tables.INWARD_LETTERS) + rng.choice(tables.INWARD_LETTERS)
            for _ in range(rng.randint(2, 8))
        )
        street = _Street(
            f"{rng.choice(tables.STREET_STEMS)} {kind}",
            f"{area}{rng.randint(low, high)}",
            rng.randrange(10),
            units,
        )
        self._streets.append(street)
        return street

    def new_address(self) -> tuple[str, str]:
        rng = self.rng
        while True:
            street = self._street()
            number = rng.randint(1, 180)
            line = f"{number} {street.name}"
            roll = rng.random()
            if roll < 0.08:
                line = f"Flat {rng.randint(1, 12)}, {line}"
            elif roll < 0.10:
                line = f"{rng.choice(tables.HOUSE_NAMES)}, {street.name}"
            unit = street.units[(number - 1) // 20 % len(street.units)]
            postcode = f"{street.outward} {street.sector}{unit}"
            if (line, postcode) not in self._addresses:
                self._addresses.add((line, postcode))
                return line, postcode

    def new_household(self, *, homeless: bool = False) -> _Household:
        self._households += 1
        if homeless:
            household = _Household(self._households, "No fixed abode", NO_FIXED_ABODE)
            if self.rng.random() < 0.5:
                household.previous_address_line, household.previous_postcode = self.new_address()
            return household
        household = _Household(self._households, *self.new_address())
        if self.rng.random() < _MOVED_RATE:
            household.previous_address_line, household.previous_postcode = self.new_address()
        return household

    # -- names and people --------------------------------------------------------------

    def origin(self) -> str:
        return self.rng.choices(self._origins, cum_weights=self._origin_cum)[0]

    def given_pool(self, origin: str, sex: str, year: int) -> tuple[str, ...]:
        if origin == "british":
            era = "old" if year < 1960 else "mid" if year < 1995 else "young"
            return tables.BRITISH_GIVEN[(sex, era)]
        if origin == "caribbean" and year >= 1995 and self.rng.random() < 0.4:
            return tables.BRITISH_GIVEN[(sex, "young")]
        return tables.GIVEN_NAMES[(origin, sex)]

    def family_name(self, origin: str) -> str:
        if origin == "british" and self.rng.random() < 0.2:
            return self.rng.choice(self._rare)
        return _skewed(self.rng, tables.FAMILY_NAMES[origin], 8.0)

    def person(
        self,
        household: _Household,
        origin: str,
        sex: str,
        age: int,
        family: str,
        *,
        birth: date | None = None,
        given: str | None = None,
    ) -> _Person:
        rng = self.rng
        if birth is None:
            days = int((age + rng.random()) * 365.2425)
            birth = max(REFERENCE_DATE - timedelta(days=days), _EARLIEST_BIRTH)
        pool = self.given_pool(origin, sex, birth.year)
        given = given or _skewed(rng, pool, 3.0)
        middle: tuple[str, ...] = ()
        rate = _MIDDLE_NAME_RATE[origin]
        if origin == "south_asian_muslim" and given in ("Mohammed", "Muhammad"):
            rate = 0.7
        if rng.random() < rate:
            names = {_skewed(rng, pool, 3.0) for _ in range(2 if rng.random() < 0.1 else 1)}
            middle = tuple(sorted(names - {given}))
        if sex == "female" and family.endswith(("ski", "cki", "dzki")):
            family = family[:-1] + "a"
        person = _Person(
            pid=f"P{len(self.people) + 1:06d}",
            sex=sex,
            birth=birth,
            given=given,
            middle=middle,
            family=family,
            origin=origin,
            household=household,
            nhs=self.new_nhs_number(),
        )
        self.people.append(person)
        return person

    def adult_age(self, low: int = 18, high: int = 100) -> int:
        while True:
            age = self.rng.randint(low, high)
            if age <= 65 or self.rng.random() < 0.1 + 0.9 * (100 - age) / 35:
                return age

    def marry(self, wife: _Person, husband_family: str) -> None:
        """Give ``wife`` the surname customs of her origin, noting a maiden name."""
        rng, origin = self.rng, wife.origin
        own = tables.WIFE_OWN_SURNAMES.get(origin)
        if own and rng.random() < own[1]:
            wife.family = rng.choice(own[0])
            return
        takes = {"chinese": 0.25, "arabic_somali": 0.05, "eastern_european": 0.85}
        roll = rng.random()
        if roll < takes.get(origin, 0.75):
            new = husband_family
            if new.endswith(("ski", "cki", "dzki")):
                new = new[:-1] + "a"
        elif roll < takes.get(origin, 0.75) + 0.08 and origin == "british":
            new = f"{wife.family}-{husband_family}"
        else:
            return
        if new != wife.family:
            wife.previous_family, wife.family = wife.family, new
            age = wife.age()
            chance = 0.35 if age < 35 else 0.12 if age < 50 else 0.03
            wife.recent_name_change = rng.random() < chance

    # -- households --------------------------------------------------------------------

    def populate(self, count: int) -> None:
        rng = self.rng
        kinds = tuple(kind for kind, _ in _HOUSEHOLD_KINDS)
        cum = list(accumulate(weight for _, weight in _HOUSEHOLD_KINDS))
        while len(self.people) < count:
            kind = rng.choices(kinds, cum_weights=cum)[0]
            first = len(self.people)
            getattr(self, f"_household_{kind}")()
            adults = [p for p in self.people[first:] if p.age() >= 16]
            for person in self.people[first:]:
                if person.age() >= 16 and rng.random() < 0.85:
                    person.phone = self.new_phone()
                    if rng.random() < 0.1:
                        person.previous_phone = self.new_phone()
                elif adults and person.age() < 16 and rng.random() < 0.7:
                    person.phone = adults[0].phone
        del self.people[count:]

    def _household_single(self, *, homeless: bool = False) -> None:
        origin, sex = self.origin(), self.rng.choice(("male", "female"))
        household = self.new_household(homeless=homeless)
        elderly = not homeless and self.rng.random() < 0.45
        age = self.adult_age(60, 100) if elderly else self.adult_age(18, 70)
        self.person(household, origin, sex, age, self.family_name(origin))

    def _household_no_fixed_abode(self) -> None:
        self._household_single(homeless=True)

    def _couple(self, household: _Household, origin: str, low: int, high: int) -> list[_Person]:
        rng = self.rng
        age = self.adult_age(low, high)
        if rng.random() < 0.03:
            sex = rng.choice(("male", "female"))
            a = self.person(household, origin, sex, age, self.family_name(origin))
            b = self.person(
                household, origin, sex, age + rng.randint(-5, 5), self.family_name(origin)
            )
            self.relatives += [(a, b), (b, a)]
            return []
        family = self.family_name(origin)
        if origin == "british" and rng.random() < 0.03:
            family = f"{family}-{self.family_name(origin)}"
        husband = self.person(household, origin, "male", min(age + rng.randint(-2, 6), 100), family)
        wife_origin = origin if rng.random() < 0.95 else self.origin()
        wife = self.person(household, wife_origin, "female", age, self.family_name(wife_origin))
        self.marry(wife, family)
        self.relatives += [(husband, wife), (wife, husband)]
        return [husband, wife]

    def _children(self, parents: list[_Person], family: str, origin: str) -> None:
        rng = self.rng
        mother = next((p for p in parents if p.sex == "female"), parents[0])
        household = mother.household
        kids: list[_Person] = []
        for _ in range(rng.choices((1, 2, 3, 4), (0.38, 0.42, 0.15, 0.05))[0]):
            age = mother.age() - rng.randint(18, 44)
            if not 0 <= age <= 24:
                continue
            sex = rng.choice(("male", "female"))
            child = self.person(household, origin, sex, age, family)
            kids.append(child)
            if rng.random() < _TWIN_RATE:
                same_sex = rng.random() < 0.65 or family.endswith(("ski", "cki", "dzki"))
                twin_sex = sex if same_sex else ("female" if sex == "male" else "male")
                pool = self.given_pool(origin, twin_sex, child.birth.year)
                given, differ_initial = child.given, rng.random() < 0.85
                for _ in range(50):
                    if given != child.given and not (differ_initial and given[0] == child.given[0]):
                        break
                    given = _skewed(rng, pool, 3.0)
                twin = self.person(
                    household, origin, twin_sex, age, family, birth=child.birth, given=given
                )
                twin.nhs = self.new_nhs_number(after=child.nhs)
                self.twins.append((child, twin))
                kids.append(twin)
        for child in kids:
            self.relatives += [(child, parent) for parent in parents]
        if kids and rng.random() < _NAMED_AFTER_PARENT_RATE:
            self._name_after_parent(parents, kids)

    def _name_after_parent(self, parents: list[_Person], kids: list[_Person]) -> None:
        twins = {id(p) for pair in self.twins for p in pair}
        taken = {kid.given for kid in kids}
        candidates = [parent for parent in parents if parent.given not in taken]
        for child in kids:
            if id(child) not in twins and any(self._share_name(p, child) for p in candidates):
                return

    def _share_name(self, parent: _Person, child: _Person) -> bool:
        """Name ``child`` after ``parent`` if they could be (same sex and surname, born
        20-40 years apart); no "Jr" is added. Return whether it was done."""
        gap = (child.birth - parent.birth).days / 365.25
        if parent.sex != child.sex or parent.family != child.family or not 20 <= gap <= 40:
            return False
        child.given = parent.given
        child.middle = tuple(m for m in child.middle if m != parent.given)
        self.same_name.append((parent, child))
        return True

    def _household_couple(self) -> None:
        elderly = self.rng.random() < 0.5
        self._couple(self.new_household(), self.origin(), *((60, 95) if elderly else (20, 70)))

    def _household_family(self) -> None:
        origin = self.origin()
        parents = self._couple(self.new_household(), origin, 22, 55)
        if parents:
            self._children(parents, parents[0].family, origin)

    def _household_lone_parent(self) -> None:
        rng, origin = self.rng, self.origin()
        sex = "female" if rng.random() < 0.85 else "male"
        family = self.family_name(origin)
        parent = self.person(self.new_household(), origin, sex, self.adult_age(18, 55), family)
        if rng.random() < 0.3:
            family = self.family_name(origin)
        self._children([parent], family, origin)

    def _household_three_generations(self) -> None:
        rng, origin = self.rng, self.origin()
        parents = self._couple(self.new_household(), origin, 24, 50)
        if not parents:
            return
        father = parents[0]
        sex = rng.choice(("male", "female"))
        age = min(father.age() + rng.randint(20, 35), 100)
        elder = self.person(father.household, origin, sex, age, father.family)
        if sex == "female" and origin == "british":
            elder.previous_family = self.family_name(origin)
        if rng.random() < 0.25:
            self._share_name(elder, father)
        self.relatives += [(father, elder)]
        self._children(parents, father.family, origin)

    def _household_adult_child(self) -> None:
        rng, origin = self.rng, self.origin()
        sex = rng.choice(("male", "female"))
        family = self.family_name(origin)
        parent = self.person(self.new_household(), origin, sex, self.adult_age(58, 95), family)
        child_age = parent.age() - rng.randint(20, 40)
        if child_age < 18:
            return
        child_sex = rng.choice(("male", "female"))
        child = self.person(parent.household, origin, child_sex, child_age, family)
        if rng.random() < 0.25:
            self._share_name(parent, child)
        self.relatives += [(child, parent), (parent, child)]

    def _household_sharers(self) -> None:
        household = self.new_household()
        for _ in range(self.rng.randint(2, 4)):
            origin, sex = self.origin(), self.rng.choice(("male", "female"))
            self.person(household, origin, sex, self.adult_age(19, 35), self.family_name(origin))

    def _household_strangers(self) -> None:
        """Two people living apart with a common name and the same birthday."""
        rng, origin = self.rng, self.origin()
        sex, age = rng.choice(("male", "female")), self.adult_age(18, 85)
        pool = self.given_pool(origin, sex, REFERENCE_DATE.year - age)
        given = _skewed(rng, pool[:4], 1.0)
        family = _skewed(rng, tables.FAMILY_NAMES[origin][:4], 1.0)
        first = self.person(self.new_household(), origin, sex, age, family, given=given)
        self.person(
            self.new_household(), origin, sex, 0, first.family, birth=first.birth, given=given
        )


# ---------------------------------------------------------------------------------------
# Records: one system's copy of a person, with that system's habits and mistakes

_GIVEN_ERRORS = (("nickname", 0.025), ("given_typo", 0.012), ("initial_only", 0.006))
_MIDDLE_ERRORS = (("middle_as_first", 0.04), ("given_swapped", 0.015))
_FAMILY_ERRORS = (("family_typo", 0.012), ("names_transposed", 0.003))
_BIRTH_ERRORS = (
    ("birth_day_month_swapped", 0.02),
    ("birth_digit_typo", 0.01),
    ("birth_missing", 0.01),
    ("birth_placeholder", 0.001),
    ("birth_year_off", 0.005),
)
_SEX_ERRORS = (("sex_missing", 0.01), ("sex_unknown", 0.005), ("sex_wrong", 0.002))
_POSTCODE_ERRORS = (("postcode_missing", 0.02), ("postcode_typo", 0.01))
_ABBREVIATIONS = {full: short for full, _, short in tables.STREET_TYPES if full != short}


class _Recorder:
    """Writes one system's records: its ID format, error rates and conventions."""

    def __init__(self, spec: SystemSpec, population: _Population) -> None:
        self.spec, self.population, self.rng = spec, population, population.rng
        self.profile = _profile(spec)
        self._next_id = self.rng.randrange(100, 5000 if spec.kind == "mental-health" else 900_000)
        self._id_format = self.profile.id_format.replace("{code3}", spec.code[:3].upper())

    def local_id(self) -> str:
        self._next_id += self.rng.randint(1, 9)
        return self._id_format.format(self._next_id)

    def record(self, person: _Person, *, is_duplicate: bool) -> tuple[SyntheticRecord, list[str]]:
        rng, profile = self.rng, self.profile
        q = profile.quality * (2.0 if is_duplicate else 1.0)
        errors: list[str] = []
        is_stale = rng.random() < profile.staleness
        nhs_number, status = self._nhs_number(person, q, is_duplicate, errors)
        given, family = self._names(person, q, is_stale, errors)
        line, postcode = self._address(person, q, is_stale, errors)
        record = SyntheticRecord(
            local_id=self.local_id(),
            nhs_number=nhs_number,
            given_name=given,
            family_name=family,
            sex=self._sex(person, q, errors),
            birth_date=self._birth_date(person, q, errors),
            address_line=line,
            postcode=postcode,
            phone=self._phone(person, q, is_stale, errors),
            nhs_number_status=status,
        )
        return record, errors

    def _nhs_number(
        self, person: _Person, q: float, is_duplicate: bool, errors: list[str]
    ) -> tuple[str, str]:
        rng, profile = self.rng, self.profile
        missing = max(0.5, profile.nhs_missing) if is_duplicate else profile.nhs_missing
        if (REFERENCE_DATE - person.birth).days < 42 and rng.random() < 0.5:
            errors.append("nhs_missing")
            return "", "08"
        if rng.random() < missing:
            errors.append("nhs_missing")
            return "", _pick(rng, _MISSING_STATUSES)
        number, status = person.nhs, _pick(rng, profile.statuses)
        if rng.random() < 0.011 * q:
            errors.append("nhs_mistyped")
            number, status = self.population.mistype(number), _pick(rng, _MISTYPED_STATUSES)
        roll = rng.random()
        if roll < profile.nhs_spaced:
            return f"{number[:3]} {number[3:6]} {number[6:]}", status
        if roll < profile.nhs_spaced + profile.nhs_dashed:
            return f"{number[:3]}-{number[3:6]}-{number[6:]}", status
        return number, status

    def _names(
        self, person: _Person, q: float, is_stale: bool, errors: list[str]
    ) -> tuple[str, str]:
        rng, profile = self.rng, self.profile
        first, middle = person.given, person.middle
        options: tuple[tuple[str, float], ...] = (
            _GIVEN_ERRORS if first in tables.NICKNAMES else _GIVEN_ERRORS[1:]
        )
        if middle:
            boost = 3.0 if first in ("Mohammed", "Muhammad") else 1.0
            options = options + tuple((name, rate * boost) for name, rate in _MIDDLE_ERRORS)
        error = _draw(rng, q, options)
        if error == "nickname":
            first = rng.choice(tables.NICKNAMES[first])
        elif error == "given_typo":
            first = _typo(rng, first)
        elif error == "initial_only":
            first = first[0]
        elif error == "middle_as_first":
            first, middle = middle[0], middle[1:]
        elif error == "given_swapped":
            first, middle = middle[0], (first, *middle[1:])
        if error:
            errors.append(error)
        parts = [first]
        if middle and (error == "given_swapped" or rng.random() < profile.middle_names):
            parts.extend(middle)
        given = " ".join(parts)

        family = person.family
        if person.recent_name_change and is_stale:
            family = person.previous_family
            errors.append("old_family_name")
        if "-" in family and rng.random() < 0.3:
            head, _, tail = family.partition("-")
            if head in ("Al", "El"):
                family = rng.choice((tail, f"{head} {tail}", f"{head}{tail.lower()}"))
            else:
                family = rng.choice((tail, tail, head, f"{head} {tail}"))
            if " " not in family:
                errors.append("family_part")
        if "'" in family and rng.random() < 0.4:
            family = family.replace("'", rng.choice(("", " ", "\u2019")))
        error = _draw(rng, q, _FAMILY_ERRORS)
        if error == "family_typo":
            family = _typo(rng, family)
        elif error == "names_transposed":
            given, family = family, given
        if error:
            errors.append(error)

        if profile.is_ascii or rng.random() < 0.25:
            given, family = _strip_accents(given), _strip_accents(family)
        if profile.is_upper:
            return given.upper(), family.upper()
        roll = rng.random()
        if roll < 0.01 * q:
            family = family.lower()
        elif roll < 0.02 * q:
            family = family.upper()
        return given, family

    def _birth_date(self, person: _Person, q: float, errors: list[str]) -> str:
        rng, birth = self.rng, person.birth
        error = _draw(rng, q, _BIRTH_ERRORS)
        if error == "birth_day_month_swapped":
            if birth.day > 12 or birth.day == birth.month:
                error = None
            else:
                birth = date(birth.year, birth.day, birth.month)
        elif error == "birth_digit_typo":
            text = birth.isoformat()
            for _ in range(6):
                i = rng.choice((2, 3, 5, 6, 8, 9))
                typed = text[:i] + rng.choice("0123456789".replace(text[i], "")) + text[i + 1 :]
                try:
                    candidate = date.fromisoformat(typed)
                except ValueError:
                    continue
                if date(1900, 1, 1) < candidate <= REFERENCE_DATE:
                    birth = candidate
                    break
            else:
                error = None
        elif error == "birth_year_off":
            year = birth.year + rng.choice((-1, 1))
            birth = _safe_date(year, birth.month, birth.day)
            if birth > REFERENCE_DATE:
                birth = _safe_date(year - 2, birth.month, birth.day)
        if error:
            errors.append(error)
        if error == "birth_missing":
            return ""
        if error == "birth_placeholder":
            return "1900-01-01"
        return birth.isoformat()

    def _sex(self, person: _Person, q: float, errors: list[str]) -> str:
        male, female, unknown = self.profile.sex_codes
        error = _draw(self.rng, q, _SEX_ERRORS)
        if error:
            errors.append(error)
        if error == "sex_missing":
            return ""
        if error == "sex_unknown":
            return unknown
        is_male = (person.sex == "male") != (error == "sex_wrong")
        return male if is_male else female

    def _address(
        self, person: _Person, q: float, is_stale: bool, errors: list[str]
    ) -> tuple[str, str]:
        rng, profile, household = self.rng, self.profile, person.household
        line, postcode = household.address_line, household.postcode
        if household.previous_postcode and is_stale:
            line, postcode = household.previous_address_line, household.previous_postcode
            errors.append("old_address")
        if rng.random() < 0.01 * q:
            line = ""
            errors.append("address_missing")
        elif rng.random() < profile.abbreviate:
            head, _, last = line.rpartition(" ")
            if last in _ABBREVIATIONS:
                line = f"{head} {_ABBREVIATIONS[last]}"
        error = _draw(rng, q, _POSTCODE_ERRORS)
        if error == "postcode_missing":
            postcode = ""
        elif error == "postcode_typo" and postcode != NO_FIXED_ABODE:
            postcode = _postcode_typo(rng, postcode)
        else:
            error = None
        if error:
            errors.append(error)
        roll = rng.random()
        if roll < 0.03:
            postcode = postcode.replace(" ", "")
        elif roll < 0.05:
            postcode = postcode.lower()
        if profile.is_ascii:
            line = _strip_accents(line)
        if profile.is_upper:
            line = line.upper()
        return line, postcode

    def _phone(self, person: _Person, q: float, is_stale: bool, errors: list[str]) -> str:
        rng = self.rng
        phone = person.phone
        if not phone or rng.random() < self.profile.phone_missing:
            return ""
        if is_stale and person.previous_phone:
            phone = person.previous_phone
            errors.append("old_phone")
        elif rng.random() < 0.01 * q:
            phone = self.population.new_phone()
            errors.append("phone_different")
        roll = rng.random()
        if roll < 0.15:
            return phone.replace(" ", "")
        if roll < 0.25:
            return "+44 " + phone[1:]
        return phone

    def bad_row(self, person: _Person, reason: str) -> SyntheticRecord:
        """A copy of ``person``'s record that a loader must reject for ``reason``."""
        rng = self.rng
        record, _ = self.record(person, is_duplicate=False)
        birth = person.birth
        if reason == "impossible_birth_date":
            month, day = rng.choice(((2, 30), (2, 31), (4, 31), (6, 31), (9, 31), (13, 5)))
            return replace(record, birth_date=f"{birth.year}-{month:02d}-{day:02d}")
        if reason == "future_birth_date":
            future = _safe_date(birth.year + 100, birth.month, birth.day)
            return replace(record, birth_date=future.isoformat())
        return replace(record, sex=rng.choice(_BAD_SEX_CODES))


# ---------------------------------------------------------------------------------------
# Generation

_DUPLICATE_RATE = 0.02
_BORROWED_RATE = 0.003
_BAD_ROW_RATE = 0.002


def generate(
    persons: int, seed: int = 1, systems: Sequence[SystemSpec] | None = None
) -> SyntheticDataset:
    """Generate a region's population and the records its connected systems hold.

    Each person is registered with a random subset of the systems (GP about 90%, each
    hospital about half, mental health and social care about 10%, the portal 20%; social
    care mostly older people) and always at least one. About 2% of registrations are
    duplicated inside a system under a second local ID.

    Args:
        persons: how many true persons to create (at least 1).
        seed: seed of the random generator; the same seed gives the same dataset.
        systems: the connected systems; ``None`` means :data:`DEFAULT_SYSTEMS`. Each
            ``kind`` must be one of :data:`SYSTEM_KINDS` and codes must be unique.

    Returns:
        The records per system, the truth, the true persons, the traps and the bad rows.

    Raises:
        ValueError: if ``persons`` is below 1, ``systems`` is empty, a kind is unknown or
            a code repeats.

    Example:
        >>> dataset = generate(500, seed=3)
        >>> len(dataset.persons)
        500
    """
    specs = tuple(DEFAULT_SYSTEMS if systems is None else systems)
    if persons < 1:
        raise ValueError("persons must be at least 1")
    if not specs:
        raise ValueError("at least one system is needed")
    if len({spec.code for spec in specs}) != len(specs):
        raise ValueError("system codes must be unique")
    for spec in specs:
        if spec.kind not in SYSTEM_KINDS:
            raise ValueError(f"unknown system kind {spec.kind!r} for {spec.code}")

    rng = random.Random(seed)
    population = _Population(rng)
    population.populate(persons)
    people = population.people
    kept = {id(p) for p in people}

    # Who is registered where: (person, is_duplicate, owner of a borrowed number, bad reason)
    entries: dict[str, list[tuple[_Person, bool, _Person | None, str]]] = {
        spec.code: [] for spec in specs
    }
    memberships: dict[int, list[tuple[str, int]]] = {}
    for person in people:
        age = person.age()
        chances = [(_coverage(spec.kind, age), spec.code) for spec in specs]
        codes = [code for chance, code in chances if rng.random() < chance]
        if not codes:
            codes = [max(chances, key=lambda pair: pair[0])[1]]
        memberships[id(person)] = [(code, len(entries[code])) for code in codes]
        for code in codes:
            entries[code].append((person, False, None, ""))
            if rng.random() < _DUPLICATE_RATE:
                entries[code].append((person, True, None, ""))

    _borrow_numbers(rng, population, memberships, kept, entries)
    total = sum(len(rows) for rows in entries.values())
    for i in range(max(1, round(total * _BAD_ROW_RATE))):
        person = rng.choice(people)
        code = rng.choice(memberships[id(person)])[0]
        entries[code].append((person, False, None, BAD_ROW_REASONS[i % len(BAD_ROW_REASONS)]))

    records: dict[str, list[SyntheticRecord]] = {}
    truth: list[tuple[str, str, str]] = []
    record_errors: dict[tuple[str, str], tuple[str, ...]] = {}
    bad_rows: list[BadRow] = []
    traps: list[Trap] = []
    for spec in specs:
        recorder = _Recorder(spec, population)
        rows = entries[spec.code]
        rng.shuffle(rows)
        out: list[SyntheticRecord] = []
        records[spec.code] = out
        for person, is_duplicate, owner, reason in rows:
            if reason:
                record = recorder.bad_row(person, reason)
                bad_rows.append(BadRow(spec.code, record.local_id, reason))
                out.append(record)
                continue
            record, errors = recorder.record(person, is_duplicate=is_duplicate)
            if owner is not None:
                status = _pick(rng, (("02", 0.6), ("01", 0.25), ("", 0.15)))
                record = replace(record, nhs_number=owner.nhs, nhs_number_status=status)
                errors = [e for e in errors if not e.startswith("nhs_")] + ["nhs_borrowed"]
                traps.append(
                    Trap(
                        "borrowed_nhs_number",
                        (person.pid, owner.pid),
                        ((spec.code, record.local_id),),
                    )
                )
            out.append(record)
            truth.append((spec.code, record.local_id, person.pid))
            record_errors[(spec.code, record.local_id)] = tuple(errors)

    traps[:0] = [
        Trap("twins", (a.pid, b.pid))
        for a, b in population.twins
        if id(a) in kept and id(b) in kept
    ]
    traps += [
        Trap("parent_child_same_name", (a.pid, b.pid))
        for a, b in population.same_name
        if id(a) in kept and id(b) in kept
    ]
    traps += _same_name_same_birth(population, kept)
    return SyntheticDataset(
        systems=specs,
        records=records,
        truth=truth,
        persons={p.pid: _freeze(p) for p in people},
        traps=traps,
        bad_rows=bad_rows,
        record_errors=record_errors,
    )


def _borrow_numbers(
    rng: random.Random,
    population: _Population,
    memberships: dict[int, list[tuple[str, int]]],
    kept: set[int],
    entries: dict[str, list[tuple[_Person, bool, _Person | None, str]]],
) -> None:
    """Put a relative's NHS number on one record of about 1% of persons."""
    candidates = [(h, o) for h, o in population.relatives if id(h) in kept and id(o) in kept]
    rng.shuffle(candidates)
    target = max(1, round(len(kept) * _BORROWED_RATE))
    used: set[int] = set()
    for holder, owner in candidates:
        if len(used) >= 2 * target:
            break
        if id(holder) in used or id(owner) in used:
            continue
        code, index = rng.choice(memberships[id(holder)])
        entries[code][index] = (holder, False, owner, "")
        used.update((id(holder), id(owner)))


def _same_name_same_birth(population: _Population, kept: set[int]) -> list[Trap]:
    """Strangers sharing given name, family name and birthday (placed or by chance)."""
    groups: dict[tuple[str, str, date], list[_Person]] = {}
    for person in population.people:
        key = (
            _strip_accents(person.given).lower(),
            _strip_accents(person.family).lower(),
            person.birth,
        )
        groups.setdefault(key, []).append(person)
    return [
        Trap("same_name_same_dob", (a.pid, b.pid))
        for group in groups.values()
        if len(group) > 1
        for a, b in combinations(group, 2)
        if a.household is not b.household and id(a) in kept and id(b) in kept
    ]


def _freeze(person: _Person) -> SyntheticPerson:
    household = person.household
    return SyntheticPerson(
        person_id=person.pid,
        nhs_number=person.nhs,
        given_name=person.given,
        middle_names=person.middle,
        family_name=person.family,
        previous_family_name=person.previous_family,
        sex=person.sex,
        birth_date=person.birth,
        address_line=household.address_line,
        postcode=household.postcode,
        previous_address_line=household.previous_address_line,
        previous_postcode=household.previous_postcode,
        phone=person.phone,
        household=household.number,
        origin=person.origin,
    )


# ---------------------------------------------------------------------------------------
# Writers


def local_id_system(code: str) -> str:
    """Return the FHIR identifier system URI used for ``code``'s local IDs.

    Example:
        >>> local_id_system("NEIGHBOUR_PORTAL")
        'https://example.org/fhir/NEIGHBOUR_PORTAL/Id/local-patient-id'
    """
    return f"https://example.org/fhir/{code}/Id/local-patient-id"


def write_csv(records: Sequence[SyntheticRecord], path: Path | str) -> Path:
    """Write records as UTF-8 CSV with the header :data:`CSV_COLUMNS`.

    Args:
        records: the records, written in order.
        path: the file to create or overwrite.

    Returns:
        The path written.

    Example:
        >>> write_csv(dataset.records["GP_CLUSTER"], "GP_CLUSTER.csv")
    """
    path = Path(path)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(record.csv_row() for record in records)
    return path


def fhir_patient(record: SyntheticRecord, system_uri: str) -> dict[str, object]:
    """Return ``record`` as a FHIR R4 Patient resource (a JSON-ready dict).

    Missing fields are left out. The NHS number identifier carries the UK Core
    verification status extension when the record has a status. Values are written as
    the system holds them, so bad rows stay invalid (an impossible ``birthDate``, a
    ``gender`` outside the FHIR codes).

    Args:
        record: the record.
        system_uri: the identifier system of the record's local ID.

    Returns:
        The Patient resource.
    """
    identifiers: list[dict[str, object]] = [{"system": system_uri, "value": record.local_id}]
    if record.nhs_number:
        nhs: dict[str, object] = {"system": NHS_NUMBER_SYSTEM, "value": record.nhs_number}
        if record.nhs_number_status:
            coding = {
                "system": VERIFICATION_STATUS_SYSTEM,
                "code": record.nhs_number_status,
                "display": _STATUS_DISPLAY[record.nhs_number_status],
            }
            nhs["extension"] = [
                {"url": VERIFICATION_STATUS_URL, "valueCodeableConcept": {"coding": [coding]}}
            ]
        identifiers.append(nhs)
    patient: dict[str, object] = {"resourceType": "Patient", "identifier": identifiers}
    name: dict[str, object] = {"use": "official"}
    if record.family_name:
        name["family"] = record.family_name
    if record.given_name:
        name["given"] = record.given_name.split()
    if len(name) > 1:
        patient["name"] = [name]
    if record.sex:
        gender = {"m": "male", "f": "female", "u": "unknown"}.get(record.sex.lower())
        patient["gender"] = gender or record.sex.lower()
    if record.birth_date:
        patient["birthDate"] = record.birth_date
    address: dict[str, object] = {}
    if record.address_line:
        address["line"] = [record.address_line]
    if record.postcode:
        address["postalCode"] = record.postcode
    if address:
        patient["address"] = [address]
    if record.phone:
        patient["telecom"] = [{"system": "phone", "value": record.phone}]
    return patient


def write_fhir_ndjson(
    records: Sequence[SyntheticRecord], path: Path | str, system_uri: str
) -> Path:
    """Write records as FHIR R4 Patient resources, one JSON object per line (UTF-8).

    Args:
        records: the records, written in order.
        path: the file to create or overwrite.
        system_uri: the identifier system of the local IDs, e.g. from
            :func:`local_id_system`.

    Returns:
        The path written.

    Example:
        >>> write_fhir_ndjson(records, "PORTAL.ndjson", local_id_system("PORTAL"))
    """
    path = Path(path)
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for record in records:
            patient = fhir_patient(record, system_uri)
            handle.write(json.dumps(patient, ensure_ascii=False, separators=(",", ":")) + "\n")
    return path


def write_truth(dataset: SyntheticDataset, path: Path | str) -> Path:
    """Write the ground truth as CSV with the header ``system,local_id,person_id``.

    Example:
        >>> write_truth(dataset, "truth.csv")
    """
    path = Path(path)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("system", "local_id", "person_id"))
        writer.writerows(dataset.truth)
    return path


def write_dataset(
    dataset: SyntheticDataset,
    folder: Path | str,
    fhir_systems: Sequence[str] = ("NEIGHBOUR_PORTAL",),
) -> list[Path]:
    """Write every system's records and the truth into ``folder`` (created if needed).

    Each system goes to ``<CODE>.csv``, or ``<CODE>.ndjson`` (FHIR Patients, local IDs
    under :func:`local_id_system`) for the codes in ``fhir_systems``. The truth goes to
    ``truth.csv``.

    Args:
        dataset: the dataset from :func:`generate`.
        folder: the output folder.
        fhir_systems: codes of the systems written as FHIR NDJSON; default the portal.

    Returns:
        The system files in load order (most trusted first, then by code), followed by
        the truth file.

    Example:
        >>> paths = write_dataset(generate(1000), "demo-data")
        >>> [p.name for p in paths][-1]
        'truth.csv'
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for spec in sorted(dataset.systems, key=lambda s: (s.trust_rank, s.code)):
        records = dataset.records[spec.code]
        if spec.code in fhir_systems:
            target = folder / f"{spec.code}.ndjson"
            paths.append(write_fhir_ndjson(records, target, local_id_system(spec.code)))
        else:
            paths.append(write_csv(records, folder / f"{spec.code}.csv"))
    paths.append(write_truth(dataset, folder / "truth.csv"))
    return paths
