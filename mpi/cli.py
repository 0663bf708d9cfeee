"""The ``mpi`` command line: load, resolve, export, evaluate, demo and database upkeep."""

from __future__ import annotations

import csv
import functools
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

from mpi.config import Settings, load_settings
from mpi.errors import MPIError
from mpi.models import SYSTEM_KINDS
from mpi.records import MatchContext
from mpi.store import db, migrate

F = TypeVar("F", bound=Callable[..., Any])


def _fail_cleanly(func: F) -> F:
    """Turn MPI errors into a one-line message and exit status 1 (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MPIError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper  # type: ignore[return-value]


class Env:
    """What every command needs: settings and a migrated database."""

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._url: str | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    @property
    def url(self) -> str:
        if self._url is None:
            self._url = db.server_url(self.settings)
            migrate.upgrade(self._url)
        return self._url

    def context(self, version: str | None = None) -> MatchContext:
        """Matching context with the active model, or the model ``version`` when given."""
        from mpi.models_registry import get_model

        with self.connection() as conn:
            return MatchContext.build(self.settings, get_model(conn, version))

    @contextmanager
    def connection(self) -> Iterator[Any]:
        with db.connect(self.url) as conn:
            yield conn


pass_env = click.make_pass_decorator(Env, ensure=True)


def output_option(func: F) -> F:
    """``-o/--output FILE`` (default: standard output)."""
    return click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Write to this file instead of standard output.",
    )(func)


@contextmanager
def _open_output(path: Path | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    with path.open("w", encoding="utf-8", newline="") as handle:
        yield handle


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


@main.group("db")
def db_group() -> None:
    """Database upkeep.

    Example: mpi db upgrade
    """


@db_group.command("upgrade")
@pass_env
@_fail_cleanly
def db_upgrade(env: Env) -> None:
    """Apply every schema migration not yet applied and print the version.

    Example: mpi db upgrade
    """
    url = db.server_url(env.settings)
    done = migrate.upgrade(url)
    for migration in done:
        click.echo(f"applied {migration.version:04d}_{migration.name}")
    with db.connect(url) as conn:
        click.echo(f"schema version {migrate.applied_version(conn)}")


@db_group.command("renormalise")
@click.option("--dry-run", is_flag=True, help="Change nothing; report what would change.")
@click.option("--batch-size", type=click.IntRange(1), default=1000, show_default=True)
@pass_env
@_fail_cleanly
def db_renormalise(env: Env, dry_run: bool, batch_size: int) -> None:
    """Normalise every stored record again from its raw payload, after normalisation changed.

    Records stored before names in other scripts were transliterated (Arabic, Chinese,
    Cyrillic, ...: schema 0100) hold no comparable name and the issue
    name_not_comparable; this gives them their transliteration and original-script form.
    Links do not change: run `mpi relink` afterwards to match the changed records again.

    Example: mpi db renormalise && mpi relink
    """
    from mpi.renormalise import renormalise

    with env.connection() as conn:
        report = renormalise(
            conn,
            allow_test_nhs_numbers=env.settings.allow_test_nhs_numbers,
            dry_run=dry_run,
            batch_size=batch_size,
        )
    verb = "would change" if dry_run else "changed"
    click.echo(f"{report.records} records read; {report.changed} {verb}")
    if report.unreadable:
        click.echo(
            f"  {report.unreadable} whose payload no longer normalises were left as they are"
        )
    if report.changed and not dry_run:
        click.echo("  run `mpi relink` to match the changed records again")


@db_group.command("roles")
@click.option("--owner", default="mpi_owner", show_default=True, help="Role owning the schema.")
@click.option(
    "--service", default="mpi_service", show_default=True, help="Role of the service and loads."
)
@click.option(
    "--owner-password-env",
    metavar="VAR",
    default=None,
    help="Environment variable holding the owner's password (default: no password set).",
)
@click.option(
    "--service-password-env",
    metavar="VAR",
    default=None,
    help="Environment variable holding the service role's password (default: none set).",
)
@pass_env
@_fail_cleanly
def db_roles(
    env: Env,
    owner: str,
    service: str,
    owner_password_env: str | None,
    service_password_env: str | None,
) -> None:
    """Create the least-privilege roles (again: idempotent), as a superuser.

    The owner role owns the schema and runs `mpi db upgrade`; the service role runs `mpi
    serve`, loads and the webhook worker, and may INSERT and SELECT the audit trail but
    never UPDATE, DELETE or TRUNCATE it. Passwords are read from the named environment
    variables (never from the command line) and sent only as SCRAM hashes; without one,
    the role logs in however pg_hba.conf allows (certificate, peer, a password set by
    you). Run it again after every `mpi db upgrade`.

    Example: MPI_SERVICE_PW=... mpi db roles --service-password-env MPI_SERVICE_PW
    """
    import os

    from mpi.errors import ConfigError
    from mpi.store import roles

    def password(var: str | None) -> str | None:
        if var is None:
            return None
        value = os.environ.get(var)
        if not value:
            raise ConfigError(f"environment variable {var} is not set or empty")
        return value

    owner_password, service_password = password(owner_password_env), password(service_password_env)
    with env.connection() as conn:
        report = roles.ensure_roles(
            conn,
            owner,
            service,
            owner_password=owner_password,
            service_password=service_password,
        )
    made = f"created {', '.join(report.created)}; " if report.created else ""
    click.echo(
        f"{made}{owner} owns the schema ({report.reassigned} objects given to it now);"
        f" {service} may use it, and only INSERT and SELECT the audit trail"
    )


@db_group.command("check")
@click.option("--no-audit", is_flag=True, help="Skip recomputing the audit hash chain.")
@pass_env
@_fail_cleanly
def db_check(env: Env, no_audit: bool) -> None:
    """Check the store's invariants; exit 1 naming each one that is breached.

    Every active record linked to exactly one person, no link to a merged person, merge
    pointers ending at an active survivor, open review items still meaningful, no-match
    assertions never crossed, link history replaying to the links, identity events agreeing
    with them, name and postcode counters equal to a recount, and the audit chain intact.

    Example: mpi db check
    """
    from mpi import integrity

    with env.connection() as conn:
        findings = integrity.check(conn, audit_chain=not no_audit)
    for f in findings:
        status = "ok" if f.ok else f"BREACHED ({f.breaches})"
        click.echo(f"{f.name:<26} {status:<16} {f.seconds:7.2f} s  {f.description}")
        for example in f.examples:
            click.echo(f"    {example}")
    broken = [f.name for f in findings if not f.ok]
    if broken:
        raise click.ClickException(f"store invariants breached: {', '.join(broken)}")
    click.echo(f"store sound: {len(findings)} invariants hold")


@db_group.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_env
@_fail_cleanly
def db_backup(env: Env, file: Path) -> None:
    """Write a backup of the whole store (pg_dump, custom format) to FILE.

    Records, links, history, events, review items, users and the audit trail with its
    chain tails. Restore it with ``mpi db restore``.

    Example: mpi db backup /backups/mpi-$(date +%F).dump
    """
    from mpi.store import backup

    backup.dump(env.url, file)
    click.echo(f"backup written to {file} ({file.stat().st_size:,} bytes)")


@db_group.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--database", "name", required=True, help="The new database to restore into.")
@pass_env
@_fail_cleanly
def db_restore(env: Env, file: Path, name: str) -> None:
    """Restore a backup into a NEW database on the configured server, then check it.

    The database must not exist yet. After the restore the schema is brought up to date
    and the store's invariants and the audit chain are checked (as ``mpi db check``);
    then point DATABASE_URL at the new database.

    Example: mpi db restore /backups/mpi-2026-12-03.dump --database mpi_restored
    """
    import psycopg

    from mpi import integrity
    from mpi.store import backup

    server = db.server_url(env.settings)
    try:
        url = db.create_database(server, name)
    except psycopg.errors.DuplicateDatabase:
        raise click.ClickException(
            f"database {name} already exists: restore into a new one"
        ) from None
    backup.restore(url, file)
    migrate.upgrade(url)
    with db.connect(url) as conn:
        broken = [f.name for f in integrity.check(conn) if not f.ok]
    if broken:
        raise click.ClickException(
            f"restored into {name}, but invariants are breached: {', '.join(broken)}"
        )
    click.echo(f"restored into database {name}: store sound, audit chain intact")


@main.group("systems")
def systems_group() -> None:
    """Connected source systems.

    Example: mpi systems list
    """


@systems_group.command("add")
@click.argument("code")
@click.option("--name", help="Display name (default: the code).")
@click.option("--kind", type=click.Choice(SYSTEM_KINDS), required=True, help="Kind of system.")
@click.option(
    "--trust-rank",
    type=click.IntRange(1, 9),
    default=5,
    show_default=True,
    help="Survivorship rank: 1 is the most trusted source.",
)
@click.option(
    "--scope",
    "scopes",
    type=click.Choice(("register", "lookup", "review", "metrics", "admin")),
    multiple=True,
    help="Issue an API token with this scope (repeat for several); it is printed once.",
)
@click.option("--identifier-system", "uri", help="URI of the system's local IDs (FHIR, PIXm).")
@click.option(
    "--hl7-facility",
    "facility",
    help="HL7 v2 sending facility (MSH-4) of its messages (default: the system's code).",
)
@pass_env
@_fail_cleanly
def systems_add(
    env: Env,
    code: str,
    name: str | None,
    kind: str,
    trust_rank: int,
    scopes: tuple[str, ...],
    uri: str | None,
    facility: str | None,
) -> None:
    """Add a connected system, and with --scope its API bearer token (shown only once).

    Only the token's hash is stored; `mpi systems rotate` replaces it, `revoke` ends it.

    Example: mpi systems add GP_CLUSTER --kind gp --trust-rank 1 --scope register --scope lookup
    """
    from mpi import access
    from mpi.store import systems, tokens

    with env.connection() as conn:
        system = systems.add_system(conn, code, name or code, kind, trust_rank)
        if uri:
            tokens.set_identifier_system(conn, code, uri)
        if facility:
            from mpi.store import hl7 as hl7_store

            hl7_store.set_facility(conn, code, facility)
        token = access.issue_token(conn, code, scopes, actor="cli") if scopes else None
    click.echo(f"added {system.code} ({system.kind}, trust rank {system.trust_rank})")
    if token is not None:
        click.echo(f"token ({', '.join(sorted(set(scopes)))}), shown only this once:")
        click.echo(token)


@systems_group.command("list")
@pass_env
@_fail_cleanly
def systems_list(env: Env) -> None:
    """List connected systems.

    Example: mpi systems list
    """
    from mpi.store import systems

    with env.connection() as conn:
        for s in systems.list_systems(conn):
            click.echo(f"{s.code}\t{s.kind}\t{s.trust_rank}\t{s.name}")


@main.command("load")
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
@_fail_cleanly
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

    The CSV has exactly the columns
    local_id,nhs_number,given_name,family_name,sex,birth_date,address_line,postcode,phone
    (empty = missing). The system is created if new. Bad rows go to the rejects file with
    the reason; the rest loads. Loading the same file again changes nothing.

    Example: mpi load GP_CLUSTER gp.csv --kind gp --trust-rank 1
    """
    from mpi.loading import load_file, write_rejects
    from mpi.store import systems

    with env.connection() as conn:
        source = systems.ensure_system(conn, system, name or system, kind, trust_rank)
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
    if report.rejects:
        target = rejects or file.with_name(file.name + ".rejects.csv")
        write_rejects(report.rejects, target)
        click.echo(f"  rejected: {len(report.rejects)} (reasons in {target})")


@main.command("resolve")
@click.argument("system")
@click.argument("local_id")
@pass_env
@_fail_cleanly
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


@main.command("person")
@click.argument("person_id")
@pass_env
@_fail_cleanly
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


@main.group("export")
def export_group() -> None:
    """Export the cross-reference or the review queue as CSV.

    Example: mpi export crossref -o crossref.csv
    """


@export_group.command("crossref")
@output_option
@pass_env
@_fail_cleanly
def export_crossref(env: Env, output: Path | None) -> None:
    """Every record as system,local_id,person_id.

    Example: mpi export crossref -o crossref.csv
    """
    from mpi.store import persons

    with env.connection() as conn, _open_output(output) as handle:
        writer = csv.writer(handle)
        writer.writerow(("system", "local_id", "person_id"))
        for row in persons.crossref(conn):
            writer.writerow(row)


@export_group.command("review")
@output_option
@pass_env
@_fail_cleanly
def export_review(env: Env, output: Path | None) -> None:
    """Every open review item as system,local_id,candidate_system,candidate_local_id,probability.

    The candidate is the best-scoring record of the candidate person.

    Example: mpi export review -o review.csv
    """
    from mpi.store import review

    with env.connection() as conn, _open_output(output) as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ("system", "local_id", "candidate_system", "candidate_local_id", "probability")
        )
        for system, local_id, cand_system, cand_local, probability, _ in review.export_rows(conn):
            writer.writerow((system, local_id, cand_system, cand_local, f"{probability:.6f}"))


@main.command("evaluate")
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
@_fail_cleanly
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


@main.command("demo")
@click.option(
    "--persons",
    type=click.IntRange(10, 1_000_000),
    default=2000,
    show_default=True,
    help="How many synthetic people to generate.",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the generated files in this folder (default: a temporary one).",
)
@click.option(
    "--database",
    default="mpi_demo",
    show_default=True,
    help="Name of the demo database on the server (re-created on each run).",
)
@click.option(
    "--serve", is_flag=True, help="Then go on serving the demo database over HTTP (Ctrl-C)."
)
@click.option(
    "--bind", default="127.0.0.1:8000", show_default=True, help="With --serve: the address."
)
@pass_env
@_fail_cleanly
def demo(
    env: Env, persons: int, seed: int, out: Path | None, database: str, serve: bool, bind: str
) -> None:
    """Generate synthetic patients over six connected systems, load them and measure accuracy.

    The data (synthetic only, NHS numbers from the 999 test range) holds typos, nicknames,
    missing and mistyped NHS numbers, married surnames and old addresses, plus twins,
    same-name parents and children and a relative's NHS number on the wrong record. It is
    loaded system by system into a fresh database named mpi_demo, then the command prints
    what was linked, what went to review and the measured accuracy. With --serve it then
    goes on serving the demo database (JSON /v1 and FHIR /fhir) and prints a token for one
    of the demo systems.

    Example: mpi demo --persons 2000
    """
    from mpi.demo import run_demo

    url = run_demo(
        env.settings, persons=persons, seed=seed, out=out, echo=click.echo, database=database
    )
    if serve:
        _serve_demo(url, bind)


def _serve_demo(url: str, bind: str) -> None:
    """Issue a token for a demo system, show how to use it, and serve the demo database."""
    from mpi import access
    from mpi.store.records import first_local_id

    with db.connect(url) as conn:
        token = access.issue_token(conn, "GP_CLUSTER", ("register", "lookup"), actor="demo")
        local_id = first_local_id(conn, "GP_CLUSTER")
    base = f"http://{bind}"
    click.echo("")
    click.echo(f"serving the demo on {base} (Ctrl-C to stop); a token for GP_CLUSTER:")
    click.echo(f"  export TOKEN={token}")
    click.echo(
        f'  curl -H "Authorization: Bearer $TOKEN" {base}/v1/systems/GP_CLUSTER/records/{local_id}'
    )
    click.echo(
        f"review UI: {base}/review/ (add an account first: DATABASE_URL=... mpi users add NAME;"
        " plain HTTP needs MPI_REVIEW_COOKIE_SECURE=false outside localhost)"
    )
    _exec_gunicorn(url, bind=bind, workers=2)


_SCOPE_CHOICE = click.Choice(("register", "lookup", "review", "metrics", "admin"))


@systems_group.command("token")
@click.argument("code")
@click.option(
    "--scope",
    "scopes",
    type=_SCOPE_CHOICE,
    multiple=True,
    required=True,
    help="A scope for the token (repeat for several).",
)
@pass_env
@_fail_cleanly
def systems_token(env: Env, code: str, scopes: tuple[str, ...]) -> None:
    """Issue an API bearer token for a system and print it once (only its hash is kept).

    Example: mpi systems token GP_CLUSTER --scope register --scope lookup
    """
    from mpi import access

    with env.connection() as conn:
        token = access.issue_token(conn, code, scopes, actor="cli")
    click.echo(token)


@systems_group.command("rotate")
@click.argument("code")
@click.option("--scope", "scopes", type=_SCOPE_CHOICE, multiple=True, help="New scopes.")
@pass_env
@_fail_cleanly
def systems_rotate(env: Env, code: str, scopes: tuple[str, ...]) -> None:
    """Revoke a system's tokens and print one new token (same scopes unless given).

    Example: mpi systems rotate GP_CLUSTER
    """
    from mpi import access

    with env.connection() as conn:
        token = access.rotate_token(conn, code, scopes or None, actor="cli")
    click.echo(token)


@systems_group.command("revoke")
@click.argument("code")
@pass_env
@_fail_cleanly
def systems_revoke(env: Env, code: str) -> None:
    """Revoke every token of a system.

    Example: mpi systems revoke GP_CLUSTER
    """
    from mpi import access

    with env.connection() as conn:
        revoked = access.revoke_tokens(conn, code)
    click.echo(f"revoked {revoked} token(s) of {code}")


@systems_group.command("identifier-system")
@click.argument("code")
@click.argument("uri")
@pass_env
@_fail_cleanly
def systems_identifier_system(env: Env, code: str, uri: str) -> None:
    """Register the identifier system URI of a system's local IDs (FHIR, PIXm).

    Example: mpi systems identifier-system GP_CLUSTER https://fhir.gp.example.nhs.uk/Id/pid
    """
    from mpi.store import tokens

    with env.connection() as conn:
        tokens.set_identifier_system(conn, code, uri)
    click.echo(f"{code} identifiers are {uri}")


@systems_group.command("hl7-facility")
@click.argument("code")
@click.argument("facility")
@pass_env
@_fail_cleanly
def systems_hl7_facility(env: Env, code: str, facility: str) -> None:
    """Name the HL7 v2 sending facility (MSH-4) by which `mpi mllp` knows a system.

    Example: mpi systems hl7-facility ACUTE_PAS RVJ
    """
    from mpi.store import hl7 as hl7_store

    with env.connection() as conn:
        hl7_store.set_facility(conn, code, facility)
    click.echo(f"{code} sends HL7 v2 as facility {facility}")


@main.group("optout")
def optout_group() -> None:
    """Patients' objections to the shared care record (still matched, never disclosed).

    Example: mpi optout add 7K3M-Q9TZ-A2C4 --reason "objection via GP"
    """


def _audit_cli(
    conn: Any, action: str, subtype: str, person_id: str | None, detail: dict[str, Any]
) -> None:
    import getpass

    from mpi import audit

    audit.record(
        conn,
        audit.AuditEntry(
            action=action,
            subtype=subtype,
            outcome="success",
            http_status=0,
            system_code="cli",
            user_id=getpass.getuser()[:128],
            person_ids=(person_id,) if person_id else (),
            detail=detail,
        ),
    )


@optout_group.command("add")
@click.argument("person_id")
@click.option("--reason", required=True, help="Why (recorded and audited).")
@pass_env
@_fail_cleanly
def optout_add(env: Env, person_id: str, reason: str) -> None:
    """Record that a person objects to sharing their record (audited).

    Example: mpi optout add 7K3M-Q9TZ-A2C4 --reason "objection via GP"
    """
    from mpi import optout

    with env.connection() as conn:
        changed = optout.add(conn, person_id, reason, actor="cli")
        _audit_cli(conn, "optout.add", "update", person_id, {"changed": changed})
    click.echo(f"{person_id} opted out" + ("" if changed else " (already)"))


@optout_group.command("remove")
@click.argument("person_id")
@pass_env
@_fail_cleanly
def optout_remove(env: Env, person_id: str) -> None:
    """Withdraw a person's objection (audited).

    Example: mpi optout remove 7K3M-Q9TZ-A2C4
    """
    from mpi import optout

    with env.connection() as conn:
        changed = optout.remove(conn, person_id)
        _audit_cli(conn, "optout.remove", "delete", person_id, {"changed": changed})
    click.echo(f"{person_id} opt-out removed" + ("" if changed else " (there was none)"))


@main.group("users")
def users_group() -> None:
    """Reviewer and admin accounts of the data-quality review web UI (/review).

    Example: mpi users add jsmith --role reviewer --display-name "Jo Smith"
    """


def _password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@users_group.command("add")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice(("reviewer", "admin")),
    default="reviewer",
    show_default=True,
    help="reviewer: work the queue and identities; admin: the same, plus account pages.",
)
@click.option("--display-name", default=None, help="Name shown in the UI (default: username).")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)
@pass_env
@_fail_cleanly
def users_add(
    env: Env, username: str, role: str, display_name: str | None, password_stdin: bool
) -> None:
    """Add a reviewer or admin account; the password is asked twice (argon2id hash kept).

    Example: mpi users add jsmith --role reviewer --display-name "Jo Smith"
    """
    from mpi import reviewers

    password = _password(password_stdin)
    with env.connection() as conn:
        account = reviewers.add(conn, username, password, role=role, display_name=display_name)
        _audit_users(conn, "users.add", "create", account.username, {"role": account.role})
    click.echo(f"added {account.role} {account.username} ({account.display_name})")


@users_group.command("password")
@click.argument("username")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin."
)
@pass_env
@_fail_cleanly
def users_password(env: Env, username: str, password_stdin: bool) -> None:
    """Set a new password for an account (and unlock it).

    Example: mpi users password jsmith
    """
    from mpi import reviewers
    from mpi.errors import NotFound
    from mpi.store import reviewers as reviewer_store

    password = _password(password_stdin)
    with env.connection() as conn:
        if not reviewer_store.set_password(conn, username, reviewers.hash_password(password)):
            raise NotFound(f"no account {username!r}")
        _audit_users(conn, "users.password", "update", username, {})
    click.echo(f"password of {username} changed")


@users_group.command("unlock")
@click.argument("username")
@pass_env
@_fail_cleanly
def users_unlock(env: Env, username: str) -> None:
    """Unlock an account locked out after repeated failed logins.

    Example: mpi users unlock jsmith
    """
    from mpi.errors import NotFound
    from mpi.store import reviewers as reviewer_store

    with env.connection() as conn:
        if not reviewer_store.unlock(conn, username):
            raise NotFound(f"no account {username!r}")
        _audit_users(conn, "users.unlock", "update", username, {})
    click.echo(f"{username} unlocked")


@users_group.command("purge-sessions")
@pass_env
@_fail_cleanly
def users_purge_sessions(env: Env) -> None:
    """Delete review UI sessions that have ended (expired or idle); signing in does it too.

    Example: mpi users purge-sessions
    """
    from mpi import reviewers

    with env.connection() as conn:
        purged = reviewers.purge_sessions(conn)
    click.echo(f"{purged} ended sessions purged")


@users_group.command("list")
@pass_env
@_fail_cleanly
def users_list(env: Env) -> None:
    """List accounts: username, role, name, and whether locked.

    Example: mpi users list
    """
    from datetime import UTC, datetime

    from mpi.store import reviewers as reviewer_store

    now = datetime.now(UTC)
    with env.connection() as conn:
        for account in reviewer_store.list_reviewers(conn):
            locked = account.locked_until is not None and account.locked_until > now
            state = "locked" if locked else ("active" if account.is_active else "disabled")
            click.echo(f"{account.username}\t{account.role}\t{account.display_name}\t{state}")


def _audit_users(
    conn: Any, action: str, subtype: str, username: str, detail: dict[str, Any]
) -> None:
    _audit_cli(conn, action, subtype, None, {"account": username, **detail})


@main.group("audit")
def audit_group() -> None:
    """The audit trail.

    Example: mpi audit verify
    """


@audit_group.command("verify")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.File("r", encoding="utf-8"),
    default=None,
    help="A file of checkpoints (mpi audit checkpoint -o): prove nothing before them was lost.",
)
@pass_env
@_fail_cleanly
def audit_verify(env: Env, checkpoint_file: TextIO | None) -> None:
    """Recompute the audit trail's hash chains; exit 1 if one is broken.

    Every chain must end where its tail says, so events missing at the start, the end or in
    between are found, however they went. With --checkpoint, each checkpointed chain head
    must still be in place with its hash: whoever rewrote the trail and its tails in the
    database cannot hide it from a checkpoint kept elsewhere.

    Example: mpi audit verify --checkpoint /secure/mpi-audit.checkpoints
    """
    from mpi import audit

    checkpoints = audit.read_checkpoints(checkpoint_file) if checkpoint_file else []
    with env.connection() as conn:
        report = audit.verify(conn, checkpoints)
    if not report.is_intact:
        where = f" at event {report.broken_at}" if report.broken_at is not None else ""
        raise click.ClickException(f"audit chain broken{where}: {report.reason}")
    held = ""
    if checkpoint_file:
        held = f"; {len(checkpoints)} checkpoint(s) hold ({report.anchors} chain heads)"
    click.echo(f"audit chain intact: {report.events} events{held}")


@audit_group.command("checkpoint")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Append the checkpoint to this file (default: print it).",
)
@pass_env
@_fail_cleanly
def audit_checkpoint(env: Env, output: Path | None) -> None:
    """Print the audit chains' heads with their lengths, as one JSON line with the time.

    Keep the lines outside the database (another host, write-once storage, a ticket):
    `mpi audit verify --checkpoint FILE` then proves that every event up to each
    checkpointed head is still there and unchanged. -o appends to FILE.

    Example: mpi audit checkpoint -o /secure/mpi-audit.checkpoints
    """
    from mpi import audit

    with env.connection() as conn:
        cp = audit.checkpoint(conn)
    line = cp.to_json()
    if output is None:
        click.echo(line)
        return
    with output.open("a", encoding="utf-8") as f:
        f.write(line + "\n")
    click.echo(f"checkpoint of {cp.events} events in {len(cp.heads)} chains appended to {output}")


@main.group("webhooks")
def webhooks_group() -> None:
    """Webhook delivery of identity events.

    Example: mpi webhooks deliver --loop
    """


@webhooks_group.command("deliver")
@click.option("--loop", is_flag=True, help="Keep delivering every few seconds.")
@click.option("--interval", type=float, default=2.0, show_default=True, help="Seconds.")
@pass_env
@_fail_cleanly
def webhooks_deliver(env: Env, loop: bool, interval: float) -> None:
    """Send due webhook deliveries from the outbox (retrying failures with backoff).

    Example: mpi webhooks deliver --loop
    """
    import time

    from mpi import webhooks

    policy = webhooks.WebhookPolicy.from_settings(env.settings)
    while True:
        with env.connection() as conn:
            report = webhooks.deliver_due(conn, policy=policy)
        click.echo(f"delivered {report.delivered}, retrying {report.retrying}, dead {report.dead}")
        if not loop:
            return
        time.sleep(interval)


@main.command("serve")
@click.option("--bind", default="127.0.0.1:8000", show_default=True, help="Address to bind.")
@click.option("--workers", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option("--threads", type=click.IntRange(1, 64), default=1, show_default=True)
@pass_env
@_fail_cleanly
def serve(env: Env, bind: str, workers: int, threads: int) -> None:
    """Run the HTTP service (JSON /v1 and FHIR /fhir) under gunicorn.

    The database is migrated first; configuration comes from the environment (see
    api/README.md).

    Example: mpi serve --bind 0.0.0.0:8000 --workers 4
    """
    _exec_gunicorn(env.url, bind=bind, workers=workers, threads=threads)


@main.command("mllp")
@click.option("--bind", default="127.0.0.1:2575", show_default=True, help="HOST:PORT to bind.")
@click.option(
    "--processes",
    type=click.IntRange(1, 64),
    default=None,
    help="Listening processes sharing the port (default MPI_MLLP_PROCESSES, or 1).",
)
@pass_env
@_fail_cleanly
def mllp(env: Env, bind: str, processes: int | None) -> None:
    """Run the HL7 v2 listener over MLLP (ADT feed, PIX and PDQ queries).

    Same database, configuration and audit as `mpi serve`. MPI_MLLP_TLS_CERT and
    MPI_MLLP_TLS_KEY turn on TLS; without them run it only inside a trusted network.

    Example: mpi mllp --bind 0.0.0.0:2575
    """
    import dataclasses

    from mpi.hl7 import server

    settings = server.MllpSettings.from_env()
    if processes is not None:
        settings = dataclasses.replace(settings, processes=processes)
    server.parse_bind(bind)
    server.run(env.url, env.context(), bind, settings)


def _exec_gunicorn(url: str, *, bind: str, workers: int, threads: int = 1) -> None:
    """Replace this process with gunicorn serving ``api:create_app()`` on ``url``."""
    import os
    import tempfile

    os.environ["DATABASE_URL"] = url
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if metrics_dir:  # the figures of this run's workers only (prometheus_client's rule)
        os.makedirs(metrics_dir, exist_ok=True)
        for old in Path(metrics_dir).glob("*.db"):
            old.unlink()
    else:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="mpi-metrics-")
    args = [sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", str(workers)]
    args += ["--config", "python:api.gunicorn_conf"]
    args += ["--threads", str(threads), "--access-logfile", "-"]
    args += ["--access-logformat", "%(m)s %(s)s %(L)ss"]  # no path: it may hold local IDs
    os.execv(sys.executable, [*args, "api:create_app()"])


@main.command("train")
@click.option("--seed", type=int, default=1, show_default=True, help="Random pair sample seed.")
@click.option(
    "--u-pairs",
    type=click.IntRange(1000),
    default=1_000_000,
    show_default=True,
    help="Random record pairs sampled for u.",
)
@click.option(
    "--false-merge-rate",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.0001,
    show_default=True,
    help="Target share of false links among automatic links, for the suggested thresholds.",
)
@click.option("--activate", is_flag=True, help="Make the new version the active model.")
@pass_env
@_fail_cleanly
def train_command(
    env: Env, seed: int, u_pairs: int, false_merge_rate: float, activate: bool
) -> None:
    """Train a match model on the records in the store and save it as a new version.

    u comes from random record pairs, m from EM on blocked candidate pairs (round-robin
    over training rules), the prior from the expected matches. Reviewers' decisions are
    used as labels to check it. Prints the expected precision/recall trade-off and the
    suggested link and review thresholds; the version is not active unless --activate.

    Example: mpi train --false-merge-rate 0.0001
    """
    import time

    from matching.training import TrainingOptions
    from mpi import models_registry

    started = time.perf_counter()
    with env.connection() as conn:
        result = models_registry.train_from_store(
            conn, TrainingOptions(seed=seed, u_pairs=u_pairs), false_merge_rate=false_merge_rate
        )
        version = models_registry.save(conn, result, is_active=activate)
    click.echo(
        f"trained {version} on {result.records} records in {time.perf_counter() - started:.1f}s:"
        f" {result.u_pairs} random pairs for u, {result.candidate_pairs} candidate pairs,"
        f" {result.expected_matches:.0f} expected matches, prior {result.model.prior:.3g}"
    )
    for session in result.sessions:
        click.echo(
            f"  EM {session.rule:<24} {session.pairs:>8} pairs,"
            f" {session.match_share:.1%} matches, {session.iterations} iterations"
        )
    click.echo("expected trade-off on candidate pairs (threshold: links, precision, recall):")
    for point in result.curve:
        click.echo(
            f"  p >= {point.threshold:<7g} {point.pairs:>8} {point.precision:>9.5f}"
            f" {point.recall:>8.4f}"
        )
    t = result.model.thresholds
    click.echo(f"suggested thresholds: link {t['link']:g}, review {t['review']:g}")
    if result.labels is not None:
        lab = result.labels
        click.echo(
            f"decided pairs: {lab.matches} matches ({lab.matches_linked} would link),"
            f" {lab.non_matches} non-matches ({lab.non_matches_linked} would link)"
        )
    click.echo(
        f"{version} is {'active' if activate else 'saved, not active'};"
        f" try: mpi relink --dry-run --model {version}"
    )


@main.group("model")
def model_group() -> None:
    """Match model versions: show, activate, report.

    Example: mpi model show
    """


@model_group.command("show")
@click.argument("version", required=False)
@pass_env
@_fail_cleanly
def model_show(env: Env, version: str | None) -> None:
    """Print a model (default: the active one) as a table of levels with m, u and weight.

    Example: mpi model show trained-2
    """
    from mpi import models_registry
    from mpi.store import models as model_store

    with env.connection() as conn:
        model = models_registry.get_model(conn, version)
        stored = model_store.list_models(conn)
    click.echo(
        f"model {model.version}: prior {model.prior:.3g}, thresholds link"
        f" {model.thresholds['link']:g}, review {model.thresholds['review']:g}"
    )
    if model.description:
        click.echo(model.description)
    click.echo(f"{'comparison':<12} {'level':<20} {'m':>9} {'u':>11} {'weight':>7}")
    for name, label, m, u, weight in models_registry.level_table(model):
        m_text = f"{m:9.5f}" if m is not None else " " * 9
        u_text = f"{u:11.3g}" if u is not None else " " * 11
        click.echo(f"{name:<12} {label:<20} {m_text} {u_text} {weight:7.2f}")
    if stored:
        click.echo(
            "versions: "
            + ", ".join(r.version + (" (active)" if r.is_active else "") for r in stored)
        )


@model_group.command("activate")
@click.argument("version")
@pass_env
@_fail_cleanly
def model_activate(env: Env, version: str) -> None:
    """Make a model version the active one (the default model's version goes back to it).

    Example: mpi model activate trained-2
    """
    from mpi import models_registry

    with env.connection() as conn:
        model = models_registry.activate(conn, version)
    click.echo(f"active model: {model.version}")


@model_group.command("export")
@click.argument("version", required=False)
@output_option
@pass_env
@_fail_cleanly
def model_export(env: Env, version: str | None, output: Path | None) -> None:
    """Write a model (default: the active one) as its JSON document.

    The document is what `mpi model import` reads, for example to move a model trained
    on a copy of the data to the live index.

    Example: mpi model export trained-2 -o trained-2.json
    """
    import json

    from mpi import models_registry

    with env.connection() as conn:
        model = models_registry.get_model(conn, version)
    with _open_output(output) as handle:
        handle.write(json.dumps(model.to_dict(), indent=1) + "\n")


@model_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--activate", is_flag=True, help="Make the imported version the active model.")
@pass_env
@_fail_cleanly
def model_import(env: Env, file: Path, activate: bool) -> None:
    """Store a model document (from `mpi model export`) as a new version.

    The document is checked completely; every problem is named. The version must not
    be stored yet. It is not active unless --activate.

    Example: mpi model import trained-2.json --activate
    """
    import json

    from mpi import models_registry
    from mpi.errors import InvalidInput

    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput.single("file", f"is not JSON: {exc}") from exc
    with env.connection() as conn:
        model = models_registry.import_model(conn, document, is_active=activate)
    click.echo(f"imported {model.version}{' (active)' if activate else ''}")


@model_group.command("report")
@click.argument("version", required=False)
@pass_env
@_fail_cleanly
def model_report(env: Env, version: str | None) -> None:
    """Estimate a model's precision and recall from reviewers' decisions, month by month.

    Labels are decided review items (linked / rejected), no-match assertions and manual
    links. They are the hard cases, so the figures are lower bounds; watch them drift.

    Example: mpi model report
    """
    from mpi import models_registry

    with env.connection() as conn:
        model = models_registry.get_model(conn, version)
        result = models_registry.report(conn, model)

    def pct(x: float | None) -> str:
        return "   n/a" if x is None else f"{x:6.1%}"

    sources = ", ".join(f"{k} {v}" for k, v in sorted(result.sources.items())) or "none"
    click.echo(f"model {result.version}; decided pairs: {sources}")
    click.echo(
        f"{'period':<8} {'matches':>7} {'non':>5} {'precision':>9} {'recall':>7}"
        f" {'false links':>11} {'missed':>6}"
    )
    for r in result.rows:
        click.echo(
            f"{r.period:<8} {r.matches:>7} {r.non_matches:>5} {pct(r.precision):>9}"
            f" {pct(r.recall):>7} {r.non_matches_linked:>11} {r.matches_below_review:>6}"
        )


@main.command("relink")
@click.option("--dry-run", is_flag=True, help="Change nothing; report what would change.")
@click.option("--model", "version", default=None, help="Model version (default: the active).")
@click.option("--batch-size", type=click.IntRange(1), default=1000, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@pass_env
@_fail_cleanly
def relink_command(
    env: Env, dry_run: bool, version: str | None, batch_size: int, quiet: bool
) -> None:
    """Re-score automatic links and open review items under a model, in batches.

    Manual links are never touched; changes go to the identity event log. With
    --dry-run nothing changes and the report shows the links that would form or break and
    the review items that would open or close, with examples.

    Example: mpi relink --dry-run --model trained-2
    """
    from mpi.relink import relink

    ctx = env.context(version)
    with env.connection() as conn:
        with click.progressbar(
            length=1,
            label=f"relinking under {ctx.model.version}",
            file=sys.stderr,
            hidden=quiet,
        ) as bar:
            seen = [0]

            def progress(done: int, total: int) -> None:
                bar.length = max(total, 1)
                bar.update(done - seen[0])
                seen[0] = done

            report = relink(conn, ctx, dry_run=dry_run, batch_size=batch_size, progress=progress)
    verb = "would" if dry_run else "did"
    click.echo(
        f"{report.records} records re-scored under {report.model_version}"
        f"{' (dry run: nothing changed)' if dry_run else ''}"
    )
    click.echo(f"  links that {verb} form:   {report.links_formed}")
    click.echo(f"  links that {verb} break:  {report.links_broken}")
    click.echo(f"  records that {verb} move: {report.records_moved}")
    click.echo(f"  review items that {verb} open:  {report.reviews_opened}")
    click.echo(f"  review items that {verb} close: {report.reviews_closed}")
    for kind, text in report.examples:
        click.echo(f"    {kind}: {text}")


if __name__ == "__main__":  # python -m mpi.cli
    main()
