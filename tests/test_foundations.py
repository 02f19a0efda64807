"""`run.py foundations`: the checks run, are reported, and a failing one fails the run."""

import json

import pytest
from conftest import run_main

# Each runs the whole experiment: seconds apiece.
pytestmark = pytest.mark.slow


def test_foundations_passes_every_check_and_reports_them(logdir):
    done = run_main("foundations", logdir=logdir)
    assert done.returncode == 0, done.stderr
    rows = json.loads((logdir / "foundations" / "summary.json").read_text())
    assert len(rows) >= 30 and all(row["passed"] for row in rows)
    assert any(row["name"].startswith("gradcheck: SoftmaxRegression") for row in rows)
    summary = (logdir / "foundations" / "summary.md").read_text()
    assert f"{len(rows)} of {len(rows)} checks pass" in summary
    assert list((logdir / "foundations").glob("events.out.tfevents.*"))


def test_a_check_that_fails_fails_the_run_and_is_named(logdir):
    # No float identity survives a tolerance of 1e-20; exact ones still pass.
    done = run_main("foundations", "--study.tolerance", "1e-20", logdir=logdir)
    assert done.returncode == 1
    assert "failed: foundations/" in done.stderr and "∂‖x‖²/∂x = 2x" in done.stderr
