"""A study's members, one at a time (as the tasks of a job array run them), and its report."""

import json
import re

import pytest

from experiments.engine import cli
from experiments.engine.study import Study

MEMBERS = {"scratch": {"model.style": "scratch"}, "concise": {"model.style": "concise"}}


@pytest.mark.parametrize("member, selected", [
    (None, ["scratch", "concise", "degree=1", "degree=3"]),
    ("concise", ["concise"]),
    ("3", ["degree=3"]),  # an index into the members in order, e.g. SLURM_ARRAY_TASK_ID
    ("degree=1", ["degree=1"]),
])
def test_member_selects_one_member_by_name_or_index(member, selected):
    study = Study(members=MEMBERS, grid={"model.degree": [1, 3]}, member=member)
    assert list(study.selected_members()) == selected


@pytest.mark.parametrize("study, named", [
    (Study(members=MEMBERS, member="4"), "index from 0 to 1"),
    (Study(members=MEMBERS, member="nope"), "scratch, concise"),
    (Study(members=MEMBERS, member="0", report_only=True), "exclude each other"),
])
def test_a_member_that_is_not_there_is_refused_by_name(study, named):
    with pytest.raises(ValueError, match=named):
        study.selected_members()


class Paired(Study):
    needed_roles = {"pair": 2}


@pytest.mark.parametrize("study, named", [
    # A role naming a member the study does not have (renamed in the YAML, say).
    (Paired(members=MEMBERS, roles={"pair": ["scratch", "concise2"]}),
     "--study.roles.pair: concise2 is not a member (set --study.roles.pair to the members "
     "that play it); the members are scratch, concise"),
    (Study(members=MEMBERS, roles={"pair": ["scratch", "concise"]}),
     "--study.roles.pair: Study has no such role; its roles are none"),
    # A role the study's sentences need, not declared, or with too few members.
    (Paired(members=MEMBERS), "--study.roles.pair: Paired needs 2 members in this role"),
    (Paired(members=MEMBERS, roles={"pair": ["scratch"]}), "needs 2 members in this role"),
])
def test_a_role_that_names_no_member_is_refused_when_the_plan_is_made(study, named):
    with pytest.raises(ValueError, match=re.escape(named)):
        study.selected_members()


def test_the_members_a_role_names_are_what_role_returns():
    study = Paired(members=MEMBERS, roles={"pair": ["concise", "scratch"]})
    assert list(study.selected_members()) == ["scratch", "concise"]
    assert study.role("pair") == ["concise", "scratch"]  # in the YAML's order


def table(study) -> list[str]:
    return [line for line in (study / "summary.md").read_text().splitlines() if line[:1] == "|"]


def test_members_run_separately_then_reported_equal_the_study_run_in_one_go(tmp_path, capsys):
    together, apart = tmp_path / "together", tmp_path / "apart"

    def run(logdir, *options: str) -> str:
        """`run.py linear_regression --fast OPTIONS` in process; what it printed."""
        assert cli.main(["linear_regression", "--fast", *options, "--logdir", str(logdir)]) == 0
        return capsys.readouterr().out

    run(together)
    study = apart / "linear_regression"
    out = run(apart, "--study.member", "1")
    assert (study / "concise" / "metrics.json").exists() and not (study / "scratch").exists()
    assert not (study / "summary.json").exists()  # a job array's tasks leave it to the report
    assert "--study.report_only true" in out

    out = run(apart, "--study.report_only", "true")
    assert [row["member"] for row in json.loads((study / "summary.json").read_text())] == [
        "concise"]
    assert "not finished yet: scratch (--study.member 0)" in out
    assert "scratch (--study.member 0)" in (study / "summary.md").read_text()

    run(apart, "--study.member", "scratch")
    out = run(apart, "--study.report_only", "true")
    assert "[1/" not in out  # it ran nothing
    expected = together / "linear_regression"
    summary = json.loads((study / "summary.json").read_text())
    assert summary == json.loads((expected / "summary.json").read_text())
    assert [row["member"] for row in summary] == ["scratch", "concise"]
    assert table(study) == table(expected)
    assert "not finished" not in (study / "summary.md").read_text().lower()


def test_a_rerun_reuses_finished_members_and_refuses_other_settings_unless_overwrite(
        tmp_path, capsys):
    logdir = tmp_path / "runs"
    assert cli.main(["linear_regression", "--fast", "--logdir", str(logdir)]) == 0
    study = logdir / "linear_regression"
    rows = json.loads((study / "summary.json").read_text())
    assert [row["member"] for row in rows] == ["scratch", "concise"]
    assert all(row["status"] == "completed" and row["epochs"] == 2 for row in rows)
    first = (study / "concise" / "metrics.json").read_text()
    capsys.readouterr()
    assert cli.main(["linear_regression", "--fast", "--logdir", str(logdir)]) == 0
    assert capsys.readouterr().out.count("finished earlier (completed): reusing") == 2
    assert (study / "concise" / "metrics.json").read_text() == first
    other = ["linear_regression", "--fast", "--model.lr", "0.1", "--logdir", str(logdir)]
    assert cli.main(other) == 2  # other settings in the same folders: refused
    err = capsys.readouterr().err
    assert "model.lr" in err and "--overwrite" in err
    assert cli.main([*other, "--overwrite"]) == 0
    assert json.loads((study / "concise" / "metrics.json").read_text())["metrics"] != json.loads(
        first)["metrics"]
