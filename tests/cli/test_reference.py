from pathlib import Path

from flywheel.cli.reference import render_reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_cli_reference_matches_help_output() -> None:
    # Regenerate with: python -m flywheel.cli.reference > docs/cli.md
    assert DOC.read_text() == render_reference()
