"""The ``mpi`` command line: one module per command group, each command thin over the domain.

The commands parse arguments, call one domain function (``mpi.*``) and print its result;
:mod:`mpi.cli.options` holds what they share.
"""

from __future__ import annotations

import logging

import click

from mpi.cli import audit, db, demo, model, optout, records, relink, service, systems, users

__all__ = ["main"]


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log what happens (to standard error).")
@click.version_option(package_name="mpi")
def main(verbose: bool) -> None:
    """mpi: a master patient index for shared care records.

    Without DATABASE_URL an embedded PostgreSQL starts in MPI_DATA_DIR.

    Example: mpi load GP_CLUSTER gp.csv
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


for _command in (
    db.db_group,
    systems.systems_group,
    records.load,
    records.resolve_command,
    records.person_command,
    records.export_group,
    records.evaluate_command,
    demo.demo,
    optout.optout_group,
    users.users_group,
    audit.audit_group,
    service.webhooks_group,
    service.serve,
    service.mllp,
    model.train_command,
    model.model_group,
    relink.relink_command,
):
    main.add_command(_command)
