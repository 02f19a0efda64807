"""The command line in process: --list, --help, an experiment's --help (describe) and
--print_config; and the small engine pieces under it: the registry, error messages,
atomic files, flattened settings and torch threads."""

import os
import subprocess
import sys

import pytest
import torch
from conftest import RUN

from experiments.engine import cli, config, errors, files, plan, registry, threads
from experiments.engine.describe import describe, type_name

COURSE = ["foundations", "linear_regression", "softmax_regression", "loss_functions",
          "perceptron", "mlp", "polynomial", "kfold", "bias_variance", "double_descent", "capacity",
          "weight_decay", "dropout"]


def test_the_registry_lists_every_experiment_in_course_order_with_its_header():
    assert registry.names() == COURSE
    experiment = registry.load("softmax_regression")
    assert experiment.chapter == "9" and "Fashion-MNIST" in experiment.description
    assert "chapter" not in experiment.defaults and "model" in experiment.defaults


def test_list_prints_name_chapter_and_description_in_course_order(capsys):
    assert cli.main(["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == COURSE
    assert lines[2].split()[1:3] == ["ch.", "9"]


def test_help_without_a_name_is_the_usage(capsys):
    assert cli.main(["--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: python experiments/run.py")


def test_an_experiments_help_lists_its_settings_types_values_and_members(capsys):
    assert cli.main(["mlp", "--help", "--model.lr", "0.3"]) == 0
    out = capsys.readouterr().out
    assert "--model.lr                   float" in out and "0.3" in out
    assert "--model.activation           relu|sigmoid|tanh        relu" in out
    assert "members (5, each with 3 seeds; --study.member NAME or an index runs one):\n" \
           "  scratch, relu, sigmoid, tanh, tuned\n" in out
    assert "--trainer.max_epochs" in out and "runs-fast with --fast" in out


def test_help_says_what_each_setting_means_from_the_code_s_docstrings(capsys):
    assert cli.main(["mlp", "--help"]) == 0
    lines = capsys.readouterr().out.splitlines()

    def meaning(option: str) -> str:
        return lines[next(i for i, line in enumerate(lines) if line.split()[:1] == [option]) + 1]
    # MLP's own docstring, FitModule's (the shared lr), the datamodule's, the study's.
    assert meaning("--model.dropout").strip() == ("the probability of zeroing each hidden "
                                                  "unit while training (d2l 5.6).")
    assert meaning("--model.lr").strip() == "the learning rate, the step size of each update."
    assert meaning("--data.val_size").strip() == "training images held out for validation."
    assert meaning("--study.final").strip().startswith("the members scored on the test split")


def test_help_summarises_a_grid_of_members_by_its_axes(capsys):
    assert cli.main(["kfold", "--help"]) == 0
    out = capsys.readouterr().out
    assert "members (100; --study.member NAME or an index runs one):" in out
    assert "  degree=…,fold=…: degree 0, 1, 2, … 19 (20 values); fold 0, 1, 2, 3, 4\n" in out
    assert "degree=3,fold=2" not in out  # not the 100 names


@pytest.mark.slow  # a process of its own, whose stdout a reader closes
def test_a_closed_pipe_ends_the_listing_quietly():
    head = subprocess.Popen(["head", "-1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    listing = subprocess.run([sys.executable, str(RUN), "--list"], stdout=head.stdin,
                             stderr=subprocess.PIPE, text=True, timeout=120)
    head.stdin.close()
    assert head.stdout.read().decode().startswith("foundations")
    assert listing.returncode == 0 and listing.stderr == ""


def test_describe_reads_the_plan_it_is_given(tmp_path):
    _, planned = config.plan(registry.load("loss_functions"), ["--logdir", str(tmp_path)])
    text = describe(planned)
    assert text.startswith("usage: python experiments/run.py loss_functions")
    assert "data: datamodules.LinearRegressionData" in text and "--data.outliers" in text
    assert "members (3, each with 5 seeds; --study.member NAME or an index runs one):\n" \
           "  l2, l1, huber\n" in text


@pytest.mark.parametrize("annotation, name", [
    (float, "float"), (int | None, "int|None"), (type(None), "None"), (list[int], "list[int]"),
])
def test_type_names_read_as_the_command_line_takes_them(annotation, name):
    assert type_name(annotation) == name


def test_print_config_prints_the_resolved_settings_and_exits(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["softmax_regression", "--print_config", "--model.lr", "0.3"])
    assert done.value.code in (0, None)
    out = capsys.readouterr().out
    assert "class_path: modules.SoftmaxRegression" in out and "lr: 0.3" in out


def test_print_config_with_fast_shows_what_fast_runs(capsys):
    with pytest.raises(SystemExit):
        cli.main(["polynomial", "--print_config", "--fast"])
    out = capsys.readouterr().out
    assert "seeds: 2" in out and "max_epochs: 2" in out and "limit_train_batches: 4" in out


def test_an_unknown_experiment_is_refused_with_a_suggestion(capsys):
    assert cli.main(["softmax_regresion"]) == 2
    err = capsys.readouterr().err
    assert "unknown experiment 'softmax_regresion' (did you mean softmax_regression" in err


def test_names_and_options_are_split_at_the_first_option():
    assert cli.split(["mlp", "kfold", "--fast", "x"]) == (["mlp", "kfold"], ["--fast", "x"])


@pytest.mark.parametrize("expected, readable", [
    ("typing.Literal['sgd', 'adam']", "one of sgd, adam"),
    ("<class 'float'>", "a float"),
    ("<class 'modules.mlp.MLP'>", "a MLP"),
])
def test_error_types_read_as_words(expected, readable):
    assert errors.readable_type(expected) == readable


def test_a_constructors_own_reason_is_what_jsonargparses_report_was_raised_from():
    from jsonargparse import Namespace

    experiment = registry.load("mlp")
    parser = config.build_parser(experiment)
    with config.allowed_imports():
        parsed = parser.parse_args(["--study.seeds", "0"])
        with pytest.raises(ValueError) as failed:  # jsonargparse's report: the Union's
            parser.instantiate_classes(Namespace(study=parsed.study))
    assert "Does not validate against any of the Union subtypes" in str(failed.value)
    assert errors.constructor_message(failed.value) == "--study.seeds must be >= 1, got 0"
    assert errors.constructor_message(ValueError("one line\nand more")) == "one line"


def test_write_atomically_replaces_whole_and_leaves_nothing_when_it_fails(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    files.write_atomically(path, "old")
    files.write_atomically(path, b"new")
    assert path.read_text() == "new"

    def full_disk(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError):
        files.write_atomically(path, "never")
    assert path.read_text() == "new" and os.listdir(tmp_path) == ["metrics.json"]


def test_flat_gives_the_command_lines_keys():
    nested = {"model": {"class_path": "modules.MLP", "init_args": {"lr": 0.1}},
              "trainer": {"max_epochs": 3}, "seed": 0}
    assert plan.flat(nested) == {"model.class_path": "modules.MLP", "model.lr": 0.1,
                                 "trainer.max_epochs": 3, "seed": 0}


def test_a_members_settings_leave_out_how_it_is_run(tmp_path):
    _, planned = config.plan(registry.load("linear_regression"), ["--logdir", str(tmp_path)])
    member = planned.members[0]
    assert member.checkpoint == tmp_path / "linear_regression" / "scratch/checkpoints/last.ckpt"
    assert not set(member.settings()) & set(plan.RUN_KEYS)
    assert member.settings()["model"]["init_args"]["style"] == "scratch"


def test_torch_takes_half_the_cores_unless_omp_num_threads_says(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        threads.set_torch_threads()
        assert torch.get_num_threads() == max(1, (os.cpu_count() or 1) // 2)
        torch.set_num_threads(3)
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        threads.set_torch_threads()
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_a_run_in_this_process_freezes_nothing_out_of_the_collector(tmp_path):
    import gc

    from conftest import run_main

    assert gc.get_freeze_count() == 0
    done = run_main("linear_regression", "--fast", "--study.member", "concise",
                    logdir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert gc.get_freeze_count() == 0
    # run.py's own process asks for it (main(freeze=True)): what lives on is set aside.
    try:
        cli.plans_for(["linear_regression"], ["--logdir", str(tmp_path / "planned")],
                      freeze=True)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
