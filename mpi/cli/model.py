"""``mpi train`` and ``mpi model``: match model versions."""

from __future__ import annotations

from pathlib import Path

import click

from mpi.cli.options import Env, fail_cleanly, open_output, output_option, pass_env


@click.command("train")
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
@fail_cleanly
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


@click.group("model")
def model_group() -> None:
    """Match model versions: show, activate, report.

    Example: mpi model show
    """


@model_group.command("show")
@click.argument("version", required=False)
@pass_env
@fail_cleanly
def model_show(env: Env, version: str | None) -> None:
    """Print a model (default: the active one): levels with m, u and weight, and the
    precision of each score band measured from reviewers' decisions.

    Example: mpi model show trained-2
    """
    from mpi import models_registry
    from mpi.store import models as model_store

    with env.connection() as conn:
        model = models_registry.get_model(conn, version)
        stored = model_store.list_models(conn)
        bands = models_registry.band_precision(conn, model)
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
    if any(b.matches + b.non_matches for b in bands):
        click.echo("precision per score band, from reviewers' decisions (labels):")
        click.echo(f"  {'probability':<21} {'matches':>8} {'non-matches':>12} {'precision':>10}")
        for b in bands:
            shown = "" if b.precision is None else f"{b.precision:.3f}"
            close = "]" if b.high == 1.0 else ")"
            span = f"[{b.low:g}, {b.high:g}{close}"
            click.echo(f"  {span:<21} {b.matches:>8} {b.non_matches:>12} {shown:>10}")
    else:
        click.echo("precision per score band: no reviewers' decisions (labels) yet")
    if stored:
        click.echo(
            "versions: "
            + ", ".join(r.version + (" (active)" if r.is_active else "") for r in stored)
        )


@model_group.command("activate")
@click.argument("version")
@pass_env
@fail_cleanly
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
@fail_cleanly
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
    with open_output(output) as handle:
        handle.write(json.dumps(model.to_dict(), indent=1) + "\n")


@model_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--activate", is_flag=True, help="Make the imported version the active model.")
@pass_env
@fail_cleanly
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
@fail_cleanly
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
