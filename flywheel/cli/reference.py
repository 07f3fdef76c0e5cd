"""Render the CLI reference (docs/cli.md) from the commands' own ``--help``, so it cannot drift.

    python -m flywheel.cli.reference > docs/cli.md
"""

from __future__ import annotations

import click

from flywheel.cli import main


def _walk(cmd: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    out = [(path, cmd)]
    if isinstance(cmd, click.Group):
        for name in sorted(cmd.commands):
            out += _walk(cmd.commands[name], [*path, name])
    return out


def render_reference() -> str:
    parts = ["# Command-line reference", "", "Generated from `--help` by `python -m flywheel.cli.reference`; do not edit by hand.", ""]
    for path, cmd in _walk(main, ["flywheel"]):
        with click.Context(cmd, info_name=" ".join(path), terminal_width=88, max_content_width=88) as ctx:
            text = cmd.get_help(ctx)
        parts += [f"## `{' '.join(path)}`", "", "```text", text.rstrip(), "```", ""]
    return "\n".join(parts)


if __name__ == "__main__":
    print(render_reference(), end="")
