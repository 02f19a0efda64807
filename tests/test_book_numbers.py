"""The book's headline numbers at the book's settings (d2l 4.5: softmax regression; 5.2:
the MLP), each a full 10-epoch run on Fashion-MNIST: about a minute apiece on 2 cores."""

import pytest
from conftest import metrics, run_main

pytestmark = pytest.mark.slow


# Measured: softmax regression 0.831 (scratch too passes), MLP 0.845 (scratch 0.840).
@pytest.mark.parametrize("experiment, member", [("softmax_regression", "concise"),
                                                ("mlp", "relu")])
def test_the_books_models_reach_its_test_accuracy(experiment, member, fashion_dir, logdir):
    done = run_main(experiment, "--study.member", member, "--study.seeds", "1",
                    "--data.data_dir", str(fashion_dir),
                    "--trainer.enable_progress_bar", "false", logdir=logdir)
    assert done.returncode == 0, done.stderr
    result = metrics(logdir / experiment / member)
    assert result["status"] == "completed" and result["epochs"] == 10
    assert result["metrics"]["test/acc"] >= 0.82, result["metrics"]
