"""K-fold cross-validation: its members, its rule, and the study end to end."""

import json

import pytest
from conftest import metrics, run_cli, scalars

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
    # Small settings: 3 folds, 3 candidates.
    logdir = tmp_path_factory.mktemp("kfold") / "runs"
    args = ("kfold", "--study.num_folds", "3", "--study.grid", '{"data.degree": [1, 3, 5]}',
            *QUIET)
    done = run_cli(*args, logdir=logdir)
    assert done.returncode == 0, done.stderr
    return logdir / "kfold", args, logdir


@pytest.mark.slow
def test_kfold_chooses_degree_3_then_fits_it_on_all_training_data(kfold):
    study, _, _ = kfold
    rows = {row["member"]: row for row in json.loads((study / "summary.json").read_text())}
    assert len(rows) == 3 * 3 + 1
    final = metrics(study / "final,degree=3")
    assert final["status"] == "completed" and final["metrics"]["test/loss"] < 0.05
    assert rows["final,degree=3"]["data.fold"] is None  # all 100 training examples
    summary = (study / "summary.md").read_text()
    assert "**degree=3**" in summary and "mean ± std" in summary
    assert (study / "validation_curve.png").exists()


@pytest.mark.slow
def test_rerunning_a_finished_kfold_only_reuses_its_results(kfold):
    study, args, logdir = kfold
    folders = sorted(p for p in study.iterdir() if p.is_dir())
    before = {p.name: ((p / "metrics.json").read_text(),
                       (p / "checkpoints" / "last.ckpt").stat().st_mtime_ns) for p in folders}
    again = run_cli(*args, logdir=logdir)
    assert again.returncode == 0, again.stderr
    after = {p.name: ((p / "metrics.json").read_text(),
                      (p / "checkpoints" / "last.ckpt").stat().st_mtime_ns) for p in folders}
    assert after == before


@pytest.mark.slow
def test_fold_members_select_and_are_never_scored_on_the_test_split(logdir):
    done = run_cli("kfold", "--fast", *QUIET, "--study.member", "0", "--study.seeds", "1",
                   logdir=logdir)
    assert done.returncode == 0, done.stderr
    fold = logdir / "kfold" / "degree=1,fold=0"
    assert not any(key.startswith("test/") for key in metrics(fold)["metrics"])
    assert "val/loss" in metrics(fold)["metrics"]
    assert not any(tag.startswith("test/") for tag in scalars(fold))
