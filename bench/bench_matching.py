"""Speed of the matching engine: median microseconds per normalise and per score.

Run from the repository root with ``PYTHONPATH=. python bench/bench_matching.py [pairs]``
(default 5,000 synthetic pairs; no PYTHONPATH needed once installed with pip -e). Each
pair is a synthetic person and a copy with realistic errors (typos, nicknames, swapped day
and month, a moved postcode, missing fields). Only 999-range (test) NHS numbers are used.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from dataclasses import replace

from matching import (
    Demographics,
    blocking_keys,
    generate_check_digit,
    load_default_model,
    normalise,
    score,
)

GIVEN = (
    "Oliver|George|Harry|Jack|Mohammed|Noah|Charlie|Thomas|William|James|Olivia|Amelia|Isla"
    "|Ava|Mia|Sophie|Grace|Lily|Zoë|Margaret|Elizabeth|Robert|Dafydd|Siobhan|Aisha|Oluwaseun"
    "|Mary Anne"
).split("|")
FAMILY = (
    "Smith|Jones|Williams|Taylor|Brown|Davies|Evans|Wilson|Thomas|Johnson|Roberts|Robinson"
    "|Thompson|Wright|Walker|White|Edwards|O'Brien|Smith-Jones|Van der Berg|Khan|Patel|Hussain"
    "|Okafor|McDonald"
).split("|")
POSTCODES = ["SE15 4QT", "M1 1AA", "CR2 6XH", "DN55 1PT", "W1A 1HQ", "EC1A 1BB", "LS6 2AB"]
STREETS = ["High Street", "Station Rd", "Church Lane", "Park Ave", "Victoria Cres"]
NICKNAMES = {"Robert": "Bob", "Margaret": "Peggy", "William": "Bill", "Thomas": "Tom"}


def _nhs_number(rng: random.Random) -> str:
    while True:
        first = "999" + "".join(rng.choice("0123456789") for _ in range(6))
        digit = generate_check_digit(first)
        if digit is not None:
            return first + str(digit)


def _typo(rng: random.Random, text: str) -> str:
    if len(text) < 3:
        return text
    i = rng.randrange(1, len(text) - 1)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def _person(rng: random.Random) -> Demographics:
    year, month, day = rng.randint(1930, 2020), rng.randint(1, 12), rng.randint(1, 28)
    return Demographics(
        nhs_number=_nhs_number(rng) if rng.random() < 0.8 else None,
        nhs_number_status=rng.choice(["01", "02", None]),
        given_name=rng.choice(GIVEN),
        family_name=rng.choice(FAMILY),
        sex=rng.choice(["male", "female", "M", "F"]),
        birth_date=f"{year:04d}-{month:02d}-{day:02d}",
        address_line=f"{rng.randint(1, 200)} {rng.choice(STREETS)}",
        postcode=rng.choice(POSTCODES),
        phone=f"07700 9{rng.randint(0, 99999):05d}",
    )


def _variant(rng: random.Random, demo: Demographics) -> Demographics:
    change = rng.choice(["typo", "nickname", "swap", "moved", "missing", "same"])
    if change == "typo":
        return replace(demo, family_name=_typo(rng, demo.family_name or ""))
    if change == "nickname":
        return replace(demo, given_name=NICKNAMES.get(demo.given_name or "", demo.given_name))
    if change == "swap" and demo.birth_date:
        y, m, d = demo.birth_date.split("-")
        return replace(demo, birth_date=f"{y}-{d}-{m}" if int(d) <= 12 else demo.birth_date)
    if change == "moved":
        return replace(demo, postcode=rng.choice(POSTCODES), address_line="1 New Road")
    if change == "missing":
        return replace(demo, nhs_number=None, phone=None)
    return demo


def _median_us(timings: list[float]) -> float:
    return statistics.median(timings) * 1e6


def main(pairs: int = 5000) -> None:
    """Print the median time per normalise, per blocking_keys and per score."""
    rng = random.Random(20240601)
    raw = []
    for _ in range(pairs):
        person = _person(rng)
        raw.append((person, _variant(rng, person)))
    model = load_default_model()
    clock = time.perf_counter

    # Normalise each record once cold (first sight of its names), then time a second pass
    # of freshly built Demographics (cached name pieces, as on a busy feed).
    normalise_cold, normalise_warm, keys_times, score_times = [], [], [], []
    normalised = []
    for a, b in raw:
        start = clock()
        na = normalise(a)
        normalise_cold.append(clock() - start)
        nb = normalise(b)
        normalised.append((na, nb))
    for a, _ in raw:
        start = clock()
        normalise(a)
        normalise_warm.append(clock() - start)
    for na, _ in normalised:
        start = clock()
        blocking_keys(na)
        keys_times.append(clock() - start)
    for _ in range(3):
        for na, nb in normalised:
            start = clock()
            score(model, na, nb)
            score_times.append(clock() - start)

    print(f"pairs: {pairs}")
    print(f"normalise (first pass): {_median_us(normalise_cold):7.2f} us median")
    print(f"normalise (warm cache): {_median_us(normalise_warm):7.2f} us median")
    print(f"blocking_keys:          {_median_us(keys_times):7.2f} us median")
    print(f"score:                  {_median_us(score_times):7.2f} us median")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
