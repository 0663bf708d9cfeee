"""The Spark relink, stage by stage: read, candidates, scoring, groups, decisions.

Each stage is a function of DataFrames, so a benchmark can time them one by one and a
cluster runs the same code (``spark-submit``, see docs/scale.md):

1. :func:`read_export`: the Parquet export of :mod:`mpi.spark.export`.
2. :func:`candidate_pairs`: every pair of records sharing a stored blocking key
   (:func:`matching.blocking.blocking_keys` made them), skipping a key held by more than
   the blocking cap, as :func:`mpi.store.records.candidate_pairs` does; only pairs with a
   relink target in them.
3. :func:`score_pairs`: :func:`matching.scoring.score` of each pair, in the Python
   workers (``mapInPandas``), with the whole store's name and postcode frequencies.
4. :func:`connected_groups`: records joined by a plausible pair (at or above the review
   threshold, or a relative's NHS number) or by sharing a person, labelled by their
   component (union-find on the driver, or label propagation on the cluster). A pair
   below the review threshold changes no decision (:func:`mpi.links.decide` neither
   links nor reviews it), so it joins no group.
5. :func:`decide_groups`: each group decided by :func:`mpi.spark.decide.decide_group`
   (``applyInPandas``), in the in-database relink's order, with every candidate pair of
   the group.

The driver then streams the groups' results into a diff and, unless it is a dry run,
applies them through the store (:mod:`mpi.spark.apply`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

from matching.frequencies import TermFrequencies
from mpi.records import MatchContext
from mpi.spark.export import read_store_json

__all__ = [
    "adjuster_of",
    "candidate_pairs",
    "connected_groups",
    "decide_groups",
    "read_export",
    "score_pairs",
    "session",
]

#: A pair scored at least this (or holding one of :data:`_ALWAYS`) joins its group.
_ALWAYS = ("nhs_number_shared_conflict",)


def session(master: str = "local[2]", *, shuffle_partitions: int = 8, **conf: str) -> Any:
    """A Spark session (the running one if there is one) for the relink.

    Args:
        master: ``local[N]`` (default ``local[2]``) or a cluster's master URL.
        shuffle_partitions: ``spark.sql.shuffle.partitions`` (default 8: local mode; a
            cluster wants two to four per core).
        conf: further settings, ``spark.x.y`` names with dots given as underscores.
    """
    from pyspark.sql import SparkSession

    if master.startswith("local"):  # the workers run this interpreter, with mpi installed
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(master)
        .appName("mpi-relink")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.python.worker.reuse", "true")
    )
    for key, value in conf.items():
        builder = builder.config(key.replace("_", "."), value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def adjuster_of(ctx: MatchContext, folder: str) -> TermFrequencies:
    """The name and postcode frequencies of the whole store, from an export."""
    counters = read_store_json(folder)["counters"]
    return TermFrequencies.build(
        ctx.model,
        counters["total"][""],
        counters["given"],
        counters["family"],
        counters["postcode"],
    )


def read_export(spark: Any, folder: str) -> Any:
    """Stage 1: the export's records (columns of :data:`mpi.spark.export.RECORD_COLUMNS`)."""
    return spark.read.parquet(f"{folder}/records")


def candidate_pairs(records: Any, cap: int) -> Any:
    """Stage 2: ``(a, b)`` with ``a < b`` sharing a blocking key held by at most ``cap``
    records, at least one of them a relink target."""
    from pyspark.sql import functions as F

    held = records.select("id", "target", F.explode("keys").alias("key"))
    counts = held.groupBy("key").count().where(F.col("count") <= cap).select("key")
    usable = held.join(counts, "key")
    left = usable.select("key", F.col("id").alias("a"), F.col("target").alias("ta"))
    right = usable.select("key", F.col("id").alias("b"), F.col("target").alias("tb"))
    return (
        left.join(right, "key")
        .where((F.col("a") < F.col("b")) & (F.col("ta") | F.col("tb")))
        .select("a", "b")
        .distinct()
    )


_SCORED = "a long, b long, probability double, flags string"


def score_pairs(pairs: Any, records: Any, ctx: MatchContext, adjuster: TermFrequencies) -> Any:
    """Stage 3: each pair scored by :func:`matching.scoring.score` in the Python workers.

    Returns ``(a, b, probability, flags)``, flags comma-separated.
    """
    from pyspark.sql import functions as F

    norms = records.select("id", "norm")
    joined = (
        pairs.join(norms.select(F.col("id").alias("a"), F.col("norm").alias("na")), "a")
        .join(norms.select(F.col("id").alias("b"), F.col("norm").alias("nb")), "b")
        .select("a", "b", "na", "nb")
    )
    model = ctx.model

    def score_batches(batches: Iterator[Any]) -> Iterator[Any]:
        import pandas as pd

        from matching.scoring import score
        from mpi.spark.codec import norm_from_json

        for frame in batches:
            probabilities, flags = [], []
            for na, nb in zip(frame["na"], frame["nb"], strict=True):
                s = score(model, norm_from_json(na), norm_from_json(nb), adjuster=adjuster)
                probabilities.append(s.probability)
                flags.append(",".join(s.flags))
            yield pd.DataFrame(
                {"a": frame["a"], "b": frame["b"], "probability": probabilities, "flags": flags}
            )

    return joined.mapInPandas(score_batches, _SCORED)


def _plausible(scored: Any, review: float) -> Any:
    from pyspark.sql import functions as F

    keep = F.col("probability") >= review
    for flag in _ALWAYS:
        keep = keep | F.col("flags").contains(flag)
    return scored.where(keep).select("a", "b")


def _edges(records: Any, scored: Any, review: float) -> Any:
    """The plausible pairs, and each linked record to its person's lowest record ID."""
    from pyspark.sql import functions as F

    linked = records.where(F.col("person").isNotNull())
    first = linked.groupBy("person").agg(F.min("id").alias("root"))
    person_edges = (
        linked.join(first, "person")
        .where(F.col("id") != F.col("root"))
        .select(F.col("id").alias("a"), F.col("root").alias("b"))
    )
    return _plausible(scored, review).unionByName(person_edges)


def connected_groups(
    spark: Any,
    records: Any,
    scored: Any,
    review: float,
    *,
    driver_edges: int = 5_000_000,
    max_rounds: int = 100,
) -> Any:
    """Stage 4: ``(id, g)``: each record's group, the lowest record ID of its component.

    Edges are the plausible pairs and, for each person, each record to the person's
    lowest record ID. Up to ``driver_edges`` edges (a few million: about as many as
    records) are joined on the driver (union-find, seconds); more are labelled on the
    cluster (label propagation, :func:`_propagate`).
    """
    edges = _edges(records, scored, review).localCheckpoint()
    if edges.count() > driver_edges:
        return _propagate(records, edges, max_rounds)
    parent: dict[int, int] = {}

    def root(x: int) -> int:
        while parent.get(x, x) != x:
            parent[x] = parent.get(parent[x], parent[x])  # halve the path
            x = parent[x]
        return x

    for a, b in edges.toLocalIterator():
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    labels = {x: root(x) for x in list(parent)}
    if not labels:
        labels = {0: 0}  # a one-row frame keeps the schema for an empty join
    import pandas as pd

    frame = pd.DataFrame({"id": list(labels), "g": list(labels.values())}, dtype="int64")
    joined = spark.createDataFrame(frame)
    from pyspark.sql import functions as F

    return (
        records.select("id")
        .join(joined, "id", "left")
        .select("id", F.coalesce("g", "id").alias("g"))
        .localCheckpoint()
    )


def _propagate(records: Any, edges: Any, max_rounds: int) -> Any:
    """Connected components on the cluster: each round every record takes the lowest
    label of its neighbours, then the label of its label, until none changes."""
    from pyspark.sql import functions as F

    both = edges.unionByName(edges.select(F.col("b").alias("a"), F.col("a").alias("b")))
    both = both.distinct().localCheckpoint()
    labels = records.select("id", F.col("id").alias("g")).localCheckpoint()
    for _ in range(max_rounds):
        low = (
            both.join(labels.withColumnRenamed("id", "b"), "b")
            .groupBy("a")
            .agg(F.min("g").alias("low"))
        )
        stepped = labels.join(low.withColumnRenamed("a", "id"), "id", "left").select(
            "id", F.least("g", F.coalesce("low", "g")).alias("g")
        )
        jumped = (
            stepped.join(
                stepped.select(F.col("id").alias("g"), F.col("g").alias("gg")), "g", "left"
            )
            .select("id", F.least("g", F.coalesce("gg", "g")).alias("g"))
            .localCheckpoint()
        )
        changed = (
            jumped.join(labels.withColumnRenamed("g", "old"), "id")
            .where(F.col("g") != F.col("old"))
            .limit(1)
            .count()
        )
        labels = jumped
        if not changed:
            return labels
    raise RuntimeError(f"connected groups did not settle in {max_rounds} rounds")


_INPUT = (
    "g long, kind string, a long, b long, c long, d long, e long, m string, t boolean, s string"
)
_DECIDED = "g long, payload string"


def _with_order(records: Any, batch_size: int) -> Any:
    """``records`` with the place of each target in the in-database relink's order.

    :func:`mpi.relink.relink` takes the targets in ID order in batches of ``batch_size``
    and in each batch one system after another (in the order each first appears), each
    in ID order: ``(chunk, system_first, id)`` sorts them so.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    targets = records.where("target").select("id", "system_id").orderBy("id")
    indexed = targets.rdd.zipWithIndex().map(lambda p: (p[0][0], p[0][1], p[1] // batch_size))
    chunks = indexed.toDF("id long, system_id long, chunk long")
    first = chunks.withColumn(
        "system_first", F.min("id").over(Window.partitionBy("chunk", "system_id"))
    ).select("id", "chunk", "system_first")
    return records.join(first, "id", "left")


def decide_groups(
    spark: Any,
    records: Any,
    pairs: Any,
    groups: Any,
    folder: str,
    ctx: MatchContext,
    adjuster: TermFrequencies,
    *,
    actor: str,
    batch_size: int = 1000,
) -> Any:
    """Stage 5: ``(g, payload)``, each group's :class:`~mpi.spark.decide.GroupResult` as
    JSON (:func:`mpi.spark.diff.result_to_json`), for groups holding a target."""
    from pyspark.sql import functions as F

    small = read_store_json(folder)
    ordered = _with_order(records, batch_size).join(groups, "id")
    wanted = ordered.groupBy("g").agg(F.max(F.col("target").cast("int")).alias("any"))
    wanted = wanted.where("any = 1").select("g")
    rows = ordered.join(wanted, "g").select(
        "g",
        F.lit("r").alias("kind"),
        F.col("id").alias("a"),
        F.col("person").alias("b"),
        F.col("system_id").alias("c"),
        F.col("chunk").alias("d"),
        F.col("system_first").alias("e"),
        F.col("method").alias("m"),
        F.col("target").alias("t"),
        F.col("norm").alias("s"),
    )
    ga = groups.select(F.col("id").alias("a"), F.col("g"))
    gb = groups.select(F.col("id").alias("b"), F.col("g").alias("gb"))

    def within(frame: Any, kind: str) -> Any:
        return (
            frame.join(ga, "a")
            .join(gb, "b")
            .where(F.col("g") == F.col("gb"))
            .select(
                "g",
                F.lit(kind).alias("kind"),
                "a",
                "b",
                *(F.lit(None).cast("long").alias(c) for c in ("c", "d", "e")),
                F.lit(None).cast("string").alias("m"),
                F.lit(None).cast("boolean").alias("t"),
                F.lit(None).cast("string").alias("s"),
            )
        )

    no_match = spark.createDataFrame(small["no_match"] or [], "a long, b long")
    items = spark.createDataFrame(
        small["open_review_items"] or [], "c long, b long, candidate long"
    )
    item_rows = items.join(groups.withColumnRenamed("id", "b"), "b").select(
        "g",
        F.lit("o").alias("kind"),
        F.col("c").alias("a"),
        "b",
        F.col("candidate").alias("c"),
        *(F.lit(None).cast("long").alias(c) for c in ("d", "e")),
        F.lit(None).cast("string").alias("m"),
        F.lit(None).cast("boolean").alias("t"),
        F.lit(None).cast("string").alias("s"),
    )
    union = (
        rows.unionByName(within(pairs, "c"))
        .unionByName(within(no_match, "n"))
        .unionByName(item_rows.join(wanted, "g"))
    )

    def decide(frame: Any) -> Any:
        import pandas as pd

        from mpi.spark.codec import norm_from_json
        from mpi.spark.decide import GroupInput, GroupRecord, decide_group
        from mpi.spark.diff import result_to_json

        records_, candidates, no_match_, open_items = [], [], [], []
        g = int(frame["g"].iloc[0])
        for kind, a, b, c, d, e, m, t, s in zip(
            frame["kind"], frame["a"], frame["b"], frame["c"], frame["d"], frame["e"],
            frame["m"], frame["t"], frame["s"], strict=True,
        ):  # fmt: skip
            if kind == "r":
                target = bool(t)
                order = (int(d), int(e), int(a)) if target else (0, 0, int(a))
                records_.append(
                    GroupRecord(
                        id=int(a),
                        system_id=int(c),
                        person=None if pd.isna(b) else int(b),
                        method=None if m is None or pd.isna(m) else str(m),
                        target=target,
                        order=order,
                        norm=norm_from_json(s),
                    )
                )
            elif kind == "c":
                candidates.append((int(a), int(b)))
            elif kind == "n":
                no_match_.append((int(a), int(b)))
            else:
                open_items.append((int(a), int(b), int(c)))
        result = decide_group(
            ctx, adjuster, GroupInput(records_, candidates, no_match_, open_items), actor
        )
        return pd.DataFrame({"g": [g], "payload": [result_to_json(result)]})

    return union.groupBy("g").applyInPandas(decide, _DECIDED)
