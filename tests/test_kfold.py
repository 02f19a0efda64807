"""K-fold cross-validation: its members, its rule, and the study end to end."""

import json

import pytest
from conftest import metrics, run_main, scalars

from experiments.engine.cli import main
from experiments.studies.kfold import KFold

QUIET = ("--trainer.enable_progress_bar", "false")  # a quarter of the time of tiny epochs


def scores(**val_by_candidate: list[float]) -> dict:
    return {name: {"train": val, "val": val} for name, val in val_by_candidate.items()}


def test_each_candidate_trains_once_per_fold_with_its_own_model_size():
    study = KFold(num_folds=3, grid={"data.degree": [1, 3]})
    members = study.all_members()
    assert list(members) == [f"degree={d},fold={k}" for d in (1, 3) for k in range(3)]
    assert members["degree=3,fold=2"] == {
        "model.num_inputs": 4, "data.degree": 3, "data.num_folds": 3, "data.fold": 2}


def test_one_std_error_prefers_the_simplest_candidate_the_folds_cannot_tell_apart():
    # Simplest first; degree=5 has the lowest mean (0.9, standard error 0.2 / √3 ≈ 0.115).
    folds = scores(**{"degree=1": [5.0, 6.0, 5.5], "degree=3": [1.0, 0.95, 0.9],
                      "degree=5": [0.9, 1.1, 0.7]})
    assert KFold(rule="min").choose(folds) == "degree=5"
    assert KFold(rule="one_std_error").choose(folds) == "degree=3"  # 0.95 ≤ 0.9 + 0.115


@pytest.fixture(scope="module")
def kfold(tmp_path_factory):
    # The defaults: closed-form fits of degrees 0..19, 5 folds, one seed.
    logdir = tmp_path_factory.mktemp("kfold") / "runs"
    args = ["kfold", "--logdir", str(logdir), *QUIET]
    assert main(args) == 0
    return logdir / "kfold", args


@pytest.mark.slow
def test_kfold_chooses_degree_3_within_one_then_fits_it_on_all_training_data(kfold):
    study, _ = kfold
    rows = {row["member"]: row for row in json.loads((study / "summary.json").read_text())}
    assert len(rows) == 20 * 5 + 1  # summary.json: one row per member, folds included
    final = [name for name in rows if name.startswith("final,")]
    assert len(final) == 1 and final[0] in ("final,degree=2", "final,degree=3", "final,degree=4")
    assert rows[final[0]]["data.fold"] is None  # all 100 training examples
    assert metrics(study / final[0])["metrics"]["test/loss"] < 0.01
    assert not any("test/loss" in row for name, row in rows.items() if ",fold=" in name)
    # summary.md's table: one row per candidate, not per fold, with mean ± se.
    summary = (study / "summary.md").read_text()
    table = [line for line in summary.splitlines() if line.startswith("| degree=")]
    assert len(table) == 20 and " ± " in table[3]
    assert ",fold=" not in summary
    assert (study / "validation_curve.png").exists()


@pytest.mark.slow
def test_rerunning_a_finished_kfold_only_reuses_its_results(kfold):
    study, args = kfold
    folders = sorted(p for p in study.iterdir() if (p / "metrics.json").exists())
    before = {p.name: ((p / "metrics.json").read_text(),
                       (p / "checkpoints" / "last.ckpt").stat().st_mtime_ns) for p in folders}
    assert main(args) == 0
    after = {p.name: ((p / "metrics.json").read_text(),
                      (p / "checkpoints" / "last.ckpt").stat().st_mtime_ns) for p in folders}
    assert after == before


@pytest.mark.slow
def test_fold_members_select_and_are_never_scored_on_the_test_split(logdir):
    done = run_main("kfold", "--fast", *QUIET, "--study.member", "0", "--study.seeds", "1",
                   logdir=logdir)
    assert done.returncode == 0, done.stderr
    fold = logdir / "kfold" / "degree=0,fold=0"
    assert not any(key.startswith("test/") for key in metrics(fold)["metrics"])
    assert "val/loss" in metrics(fold)["metrics"]
    assert not any(tag.startswith("test/") for tag in scalars(fold))
