"""Which true and false pairs a safety finding catches, in a synthetic population.

No database: the population is generated in memory, every pair of valid records sharing
a family name and a postcode, or a family name and a birth date, is scored with the
default model, and each pair with p >= 0.5 is counted by finding and by truth (one person
or two). Pairs that agree only through a middle name are split by a Mohammed/Muhammad
first name (a common prefix name), and pairs flagged ``twin_risk`` with given names at
``nickname`` (sibling variants, JACK/SEAN) are counted apart.

Usage::

    python bench/flag_scan.py --persons 20000 --seed 1
"""

from __future__ import annotations

import argparse
import collections
import itertools

from matching.errors import MatchingError
from matching.model import load_default_model
from matching.nicknames import are_direct_variants
from matching.normalise import normalise
from matching.scoring import score
from matching.types import Demographics
from mpi.demo.synthetic import generate

_FINDINGS = ("sex_conflict", "middle_name_conflict", "twin_risk", "nhs_number_shared_conflict")
_LARGEST_GROUP = 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--examples", type=int, default=0)
    args = parser.parse_args()
    dataset = generate(args.persons, seed=args.seed)
    truth = {(s, local): person for s, local, person in dataset.truth}
    model = load_default_model()
    records = []
    for system, rows in dataset.records.items():
        for r in rows:
            person = truth.get((system, r.local_id))
            if person is None:
                continue
            fields = (r.given_name, r.family_name, r.sex, r.birth_date, r.address_line)
            try:
                norm = normalise(
                    Demographics(
                        nhs_number=r.nhs_number or None,
                        given_name=fields[0] or None,
                        family_name=fields[1] or None,
                        sex=fields[2] or None,
                        birth_date=fields[3] or None,
                        address_line=fields[4] or None,
                        postcode=r.postcode or None,
                        phone=r.phone or None,
                    )
                )
            except (MatchingError, ValueError):
                continue
            records.append((person, norm, fields))
    groups: dict[tuple[object, object], list[int]] = collections.defaultdict(list)
    for i, (_, norm, _) in enumerate(records):
        groups[(norm.family_name, norm.postcode)].append(i)
        groups[(norm.family_name, norm.birth_date)].append(i)
    seen: set[tuple[int, int]] = set()
    counts: collections.Counter[tuple[str, bool]] = collections.Counter()
    examples: dict[tuple[str, bool], list[tuple[str, ...]]] = {}
    for members in groups.values():
        if len(members) > _LARGEST_GROUP:
            continue
        for i, j in itertools.combinations(members, 2):
            if (i, j) in seen:
                continue
            seen.add((i, j))
            (pa, a, fa), (pb, b, fb) = records[i], records[j]
            result = score(model, a, b)
            if result.probability < 0.5:
                continue
            flags = set(result.flags)
            tags = [f for f in _FINDINGS if f in flags]
            if "twin_risk" in flags and result.fields[1].level == "nickname":
                tags.append("twin_risk: sibling name variants")
            if "given_name_middle_only" in flags:
                firsts = (a.given_names[0], b.given_names[0])
                prefix = any(are_direct_variants(x, "MOHAMMED") for x in firsts)
                tags.append("middle name only" + (", Mohammed first" if prefix else ""))
            for tag in tags:
                counts[(tag, pa == pb)] += 1
                found = examples.setdefault((tag, pa == pb), [])
                if len(found) < args.examples:
                    found.append((*fa, "|", *fb))
    print(f"{len(records)} records, {len(seen)} pairs scored")
    print("| finding | one person | two people |")
    print("| --- | --- | --- |")
    for tag in sorted({t for t, _ in counts}):
        print(f"| {tag} | {counts[(tag, True)]} | {counts[(tag, False)]} |")
    for (tag, same), rows in sorted(examples.items()):
        if not rows:
            continue
        print(f"{tag}, {'one person' if same else 'two people'}:")
        for row in rows:
            print("   ", " ".join(row))


if __name__ == "__main__":
    main()
