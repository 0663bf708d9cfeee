"""``mpi load``, ``resolve``, ``person``, ``export``, ``evaluate``: records and persons."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import click

from mpi.cli.options import Env, fail_cleanly, open_output, output_option, pass_env
from mpi.cli.spark import export_records_command
from mpi.models import SYSTEM_KINDS


@click.command("load")
@click.argument("system")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--kind",
    type=click.Choice(SYSTEM_KINDS),
    default="hospital",
    show_default=True,
    help="Kind, if the system is new.",
)
@click.option("--name", help="Display name, if the system is new.")
@click.option(
    "--trust-rank",
    type=click.IntRange(1, 9),
    default=5,
    show_default=True,
    help="Survivorship rank, if the system is new.",
)
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write rejected rows (default: FILE.rejects.csv).",
)
@click.option(
    "--system-uri",
    default=None,
    help="NDJSON only: the identifier system of this system's local IDs.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@pass_env
@fail_cleanly
def load(
    env: Env,
    system: str,
    file: Path,
    kind: str,
    name: str | None,
    trust_rank: int,
    rejects: Path | None,
    system_uri: str | None,
    quiet: bool,
) -> None:
    """Bulk load a connected system's records (CSV or FHIR Patient NDJSON), with matching.

    The CSV has a header naming its columns, in any order: local_id and the fields
    (matching/fields.py; empty = missing). Unknown columns are reported and ignored.
    The system is created if new. Bad rows go to the rejects file with
    the reason; the rest loads. Loading the same file again changes nothing.

    Example: mpi load GP_CLUSTER gp.csv --kind gp --trust-rank 1
    """
    from mpi.loading import load_file, write_rejects
    from mpi.systems import ensure_system

    with env.connection() as conn:
        source = ensure_system(conn, system, name or system, kind, trust_rank)
    with file.open(encoding="utf-8-sig") as handle:
        total = sum(1 for _ in handle) - (file.suffix.lower() == ".csv")
    with click.progressbar(
        length=max(total, 0), label=f"loading {file.name}", file=sys.stderr, hidden=quiet
    ) as bar:
        done = [0]

        def progress(rows: int) -> None:
            bar.update(rows - done[0])
            done[0] = rows

        report = load_file(
            env.url,
            env.context(),
            source,
            file,
            batch_size=env.settings.batch_size,
            system_uri=system_uri,
            progress=progress,
        )
    click.echo(
        f"{report.loaded} records loaded from {file.name} in {report.seconds:.1f}s"
        f" ({report.per_second:.0f} records/s)"
    )
    for decision, count in sorted(report.decisions.items()):
        click.echo(f"  {decision}: {count}")
    if report.unknown_columns:
        click.echo(f"  unknown columns ignored: {', '.join(report.unknown_columns)}")
    if report.rejects:
        target = rejects or file.with_name(file.name + ".rejects.csv")
        write_rejects(report.rejects, target)
        click.echo(f"  rejected: {len(report.rejects)} (reasons in {target})")


@click.command("resolve")
@click.argument("system")
@click.argument("local_id")
@pass_env
@fail_cleanly
def resolve_command(env: Env, system: str, local_id: str) -> None:
    """Resolve a local ID to its person ID and every linked local ID.

    Example: mpi resolve GP_CLUSTER G00012345
    """
    from mpi.identities import resolve

    with env.connection() as conn:
        found = resolve(conn, system, local_id)
    status = "" if found.status == "active" else f" (merged into {found.merged_into})"
    click.echo(f"person {found.person_id}{status}")
    for code, local in found.records:
        click.echo(f"  {code}\t{local}")


@click.command("person")
@click.argument("person_id")
@pass_env
@fail_cleanly
def person_command(env: Env, person_id: str) -> None:
    """Show a person: golden view, linked records and history.

    Example: mpi person 7K3M-Q9TZ-A2C4
    """
    from mpi.identities import person_view

    with env.connection() as conn:
        view = person_view(conn, person_id)
    p = view.person
    click.echo(
        f"person {p.person_id} ({p.status}"
        + (f", merged into {p.merged_into})" if p.merged_into else ")")
    )
    click.echo("golden view:")
    for field, golden in view.golden.items():
        click.echo(f"  {field:<13} {golden.value:<30} from {golden.system}/{golden.local_id}")
    click.echo("linked records:")
    for r in view.records:
        prob = f"p={r.probability:.4f}" if r.probability is not None else "first record"
        issues = f" issues: {', '.join(r.norm.issues)}" if r.norm.issues else ""
        click.echo(
            f"  {r.system_code}/{r.local_id}\t{r.link_method} {prob}"
            f" by {r.linked_by} at {r.linked_at:%Y-%m-%d %H:%M}{issues}"
        )
    if view.open_review:
        click.echo("open review items:")
        for item in view.open_review:
            click.echo(f"  #{item['id']} {item['reason']} p={item['probability']:.4f}")
    click.echo("history:")
    for e in view.events:
        other = f" (other person {e.other_person_id})" if e.other_person_id else ""
        record = f" {e.system_code}/{e.local_id}" if e.local_id else ""
        click.echo(
            f"  {e.occurred_at:%Y-%m-%d %H:%M:%S} {e.event_type}{record}{other} by {e.actor}"
        )


@click.group("export")
def export_group() -> None:
    """Export the cross-reference or the review queue as CSV, or the records as Parquet.

    Example: mpi export crossref -o crossref.csv
    """


export_group.add_command(export_records_command)


@export_group.command("crossref")
@output_option
@pass_env
@fail_cleanly
def export_crossref(env: Env, output: Path | None) -> None:
    """Every record as system,local_id,person_id.

    Example: mpi export crossref -o crossref.csv
    """
    from mpi import exports

    with env.connection() as conn, open_output(output) as handle:
        writer = csv.writer(handle)
        writer.writerow(("system", "local_id", "person_id"))
        for row in exports.crossref(conn):
            writer.writerow(row)


@export_group.command("review")
@output_option
@pass_env
@fail_cleanly
def export_review(env: Env, output: Path | None) -> None:
    """Every open review item as system,local_id,candidate_system,candidate_local_id,probability.

    The candidate is the best-scoring record of the candidate person.

    Example: mpi export review -o review.csv
    """
    from mpi import exports

    with env.connection() as conn, open_output(output) as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ("system", "local_id", "candidate_system", "candidate_local_id", "probability")
        )
        for item in exports.open_review(conn):
            writer.writerow(
                (
                    item.system,
                    item.local_id,
                    item.candidate_system,
                    item.candidate_local_id,
                    f"{item.probability:.6f}",
                )
            )


@click.command("evaluate")
@click.option(
    "--truth",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="CSV system,local_id,person_id of the true persons.",
)
@click.option(
    "--show",
    type=int,
    default=5,
    show_default=True,
    help="How many false-merge clusters and split persons to list.",
)
@pass_env
@fail_cleanly
def evaluate_command(env: Env, truth: Path, show: int) -> None:
    """Measure the cross-reference against a truth file: pairwise precision, recall, F1.

    Also lists false-merge clusters (an identity holding more than one true person) and
    split persons (one true person over several identities).

    Example: mpi evaluate --truth truth.csv
    """
    from mpi.evaluation import evaluate_store, format_evaluation

    with env.connection() as conn:
        result, in_review = evaluate_store(conn, truth)
    click.echo(format_evaluation(result, show=show, missed_in_review=in_review))
