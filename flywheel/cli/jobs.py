"""Verbs for background jobs: run a worker, list, show, follow, cancel."""

from __future__ import annotations

import time

import click

from flywheel.cli import main, settings_of


@main.command()
@click.option("--once", is_flag=True, help="Run queued jobs, then exit when the queue is empty.")
@click.pass_context
def worker(ctx: click.Context, once: bool) -> None:
    """Run background jobs (training, curation, evaluation) from the queue."""
    from flywheel.jobs import run_worker

    n = run_worker(settings_of(ctx), once=once)
    if once:
        click.echo(f"ran {n} job(s)")


@main.group()
def jobs() -> None:
    """List, show, follow and cancel background jobs."""


def _jobs(ctx: click.Context):  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from flywheel.jobs.runner import worker_alive
    from flywheel.store import open_store

    store = open_store(settings_of(ctx))
    store.jobs.reap(timedelta(seconds=30), alive=worker_alive)
    return store.jobs


@jobs.command("list")
@click.option("--model", default=None)
@click.option(
    "--status", default=None, type=click.Choice(["queued", "running", "succeeded", "failed", "cancelled"])
)
@click.pass_context
def jobs_list(ctx: click.Context, model: str | None, status: str | None) -> None:
    """The newest jobs first."""
    for j in _jobs(ctx).list(model=model, status=status):
        click.echo(
            f"{j.job_id}  {j.kind:<10} {j.model or '-':<16} {j.status:<10} {j.progress:>4.0%}  {j.message or j.error or ''}"
        )


@jobs.command("show")
@click.argument("job_id")
@click.option("--follow", "-f", is_flag=True, help="Show a progress bar until the job ends.")
@click.pass_context
def jobs_show(ctx: click.Context, job_id: str, follow: bool) -> None:
    """One job, its result and its log."""
    import json

    store = _jobs(ctx)
    if follow:
        follow_job(store, job_id)
    j = store.get(job_id)
    click.echo(json.dumps(j.to_dict(), indent=2, default=str))
    for seq, at, line in store.logs(job_id):
        click.echo(f"[{seq}] {at.isoformat()} {line}")


@jobs.command("cancel")
@click.argument("job_id")
@click.pass_context
def jobs_cancel(ctx: click.Context, job_id: str) -> None:
    """Cancel a queued job, or ask a running one to stop."""
    j = _jobs(ctx).cancel(job_id)
    click.echo(f"{j.job_id}: {j.status}{' (stop requested)' if j.status == 'running' else ''}")


def follow_job(store, job_id: str) -> None:  # type: ignore[no-untyped-def]
    """A progress bar for a job until it ends."""
    from rich.progress import BarColumn, Progress, TextColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%")
    ) as bar:
        task = bar.add_task(job_id, total=1.0)
        while True:
            j = store.get(job_id)
            bar.update(
                task, completed=j.progress, description=f"{j.kind} {j.job_id}: {j.message or j.status}"
            )
            if j.status in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(0.5)
