"""Relink on Apache Spark: the same matching and decisions as the service, as a batch.

``mpi relink --engine spark`` runs :func:`mpi.spark.job.relink`: the records are read
from the store into a Parquet export (:mod:`mpi.spark.export`, also ``mpi export
records``), Spark builds the candidate pairs from the stored blocking keys
(:mod:`matching.blocking`), scores them with :func:`matching.scoring.score` inside its
Python workers, groups the records into connected groups (candidates that could change
each other's decision, and the records of one person) and decides each group with the
service's own decision code (:mod:`mpi.spark.decide`). The result is a diff
(:mod:`mpi.spark.diff`) that a dry run writes out and a real run applies through the
store, group by group, in batches.

Only :mod:`mpi.spark.job` imports pyspark (the ``spark`` extra).
"""
