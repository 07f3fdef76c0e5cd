"""``flywheel demo``: the whole product on a real, drifting data set, on the embedded store."""

from __future__ import annotations

import click

from flywheel.cli import main, settings_of


@main.command()
@click.option(
    "--rows", type=int, default=None, help="Use only the first ROWS rows of Elec2 (default: all 45,312)."
)
@click.option(
    "--serve/--no-serve", default=True, show_default=True, help="Serve the UI when the stream is done."
)
@click.option("--port", type=int, default=8080, show_default=True, help="Port for the UI.")
@click.pass_context
def demo(ctx: click.Context, rows: int | None, serve: bool, port: int) -> None:
    """Train a model on Elec2, stream the rest as production traffic, then serve the UI."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from flywheel.demo.elec2 import run_demo

    settings = settings_of(ctx).model_copy(update={"auth": False, "host": "127.0.0.1", "port": port})
    click.echo(f"Flywheel demo: Elec2 into {settings.data_dir}")
    with Progress(
        TextColumn("streaming events"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
    ) as bar:
        task = bar.add_task("stream", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        summary = run_demo(settings, rows=rows, progress=progress)
    click.echo(
        f"trained on {summary.train_rows:,} rows; logged {summary.events:,} events, {summary.labels:,} delayed labels, "
        f"{summary.feedback:,} thumbs-down"
    )
    click.echo(
        "accuracy of the first model by tenth of the stream: "
        + " ".join(f"{a:.2f}" for a in summary.accuracy_by_tenth)
    )
    click.echo(
        "monitoring, last week vs the training data: "
        + (
            f"{len(summary.alerts)} open alert(s): {', '.join(summary.alerts)}"
            if summary.alerts
            else "no alerts"
        )
    )
    click.echo(
        f"curation queued {summary.queued_for_labelling} event(s) for labelling, each with the reason why"
    )
    verdict = "blessed and promoted" if summary.gate_passed else "refused by the gate"
    click.echo(
        f"retrained candidate v{summary.candidate_version} on the newest labelled window (up to 10,000 events): {verdict}"
    )
    for reason in summary.gate_reasons[:5]:
        click.echo(f"  - {reason}")
    click.echo(f"champion is now v{summary.champion_version}")
    if summary.sdk_stats.get("dropped") or summary.sdk_stats.get("failed"):
        click.secho(f"SDK reported problems: {summary.sdk_stats}", fg="yellow")
    if serve:
        import uvicorn

        from flywheel.server.app import create_app

        click.echo(f"UI: http://127.0.0.1:{port}/  (auth off, loopback only; Ctrl-C to stop)")
        uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
