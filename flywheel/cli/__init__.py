"""The ``flywheel`` command line. Verbs are thin layers over library functions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from flywheel import __version__
from flywheel.errors import FlywheelError
from flywheel.settings import Settings


class FlywheelGroup(click.Group):
    """Turns Flywheel's own errors into a one-line message and exit code 2, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FlywheelError as exc:
            click.secho(f"error: {exc.message}", fg="red", err=True)
            for d in exc.details[:10]:
                click.echo(f"  - {d}", err=True)
            ctx.exit(2)


@click.group(cls=FlywheelGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="flywheel")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    envvar="FLYWHEEL_DATA_DIR",
    help="Root of the embedded store.",
)
@click.option(
    "--db-url", envvar="FLYWHEEL_DB_URL", help="Metadata database URL (default: SQLite under the data dir)."
)
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None, db_url: str | None) -> None:
    """Flywheel: log, monitor, curate, label, retrain, evaluate and deploy — one loop."""
    overrides: dict[str, Any] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if db_url is not None:
        overrides["db_url"] = db_url
    ctx.obj = Settings(**overrides)


def settings_of(ctx: click.Context) -> Settings:
    obj = ctx.find_root().obj
    assert isinstance(obj, Settings)
    return obj


# Register the verbs (each module adds its commands to `main`).
from flywheel.cli import core, demo, jobs, label, monitor, registry, snapshots  # noqa: E402,F401
