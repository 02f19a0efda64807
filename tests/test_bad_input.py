"""Bad input, and settings that would run code: exit 2, one short line naming the key and
what it accepts, nothing written (and nothing imported that is not fitlab's).

These call the command line's `main` in this process (parsing is all they exercise, and a
subprocess per case would cost seconds); test_experiments.py runs the same path in a
subprocess. A traceback would fail the test, since `main` would raise instead of returning.
"""

import os

import pytest

from experiments.engine import cli

CORES = len(os.sched_getaffinity(0))
DDP = ["--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp"]


def refused(capsys, logdir, *args: str) -> str:
    """Run `run.py ARGS --logdir LOGDIR`; assert it refused as the contract says; the message."""
    code = cli.main([*args, "--logdir", str(logdir)])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert not logdir.exists()  # nothing written
    return err


@pytest.mark.parametrize(
    "args, named",
    [
        (["linear_regression", "--model.lr", "-1"], "lr must be > 0, got -1"),
        (["linear_regression", "--seed", "-1"], "--seed -1: a seed is from 0 to 4294967295"),
        (["softmax_regression", "--data.data_dir", "/proc/nope"],
         "--data.data_dir /proc/nope: cannot write in /proc"),
        (["linear_regression", "--model.num_inputs", "-1"], "num_inputs must be >= 1"),
        (["linear_regression", "--data.num_train", "-3"], "num_train must be >= 1"),
        (["linear_regression", "--data.batch_size", "-10"], "batch_size must be >= 1"),
        (["softmax_regression", "--data.train_size", "0"], "train_size must be in [1, 50000]"),
        (["softmax_regression", "--data.val_size", "60000"], "val_size must be in [1, 59999]"),
        (["linear_regression", "--model.optimizer", "rmsprop"], "one of sgd, adam, adamw"),
        (["linear_regression", "--model.loss", "l3"], "--model.loss: expected one of l2, l1"),
        (["linear_regression", "--model.momentum", "1.5"], "momentum must be in [0, 1)"),
        (["mlp", "--model.num_hidens", "3"], "--model.num_hidens: not a setting of MLP (did you "
                                             "mean num_hiddens"),
        (["mlp", "--model.dropout", "1"], "dropout must be in [0, 1), got 1.0"),
        (["mlp", "--model.dropout", "-0.1"], "dropout must be in [0, 1), got -0.1"),
        (["mlp", "--model.activation", "swish"], "expected one of relu, sigmoid, tanh"),
        (["mlp", "--model.num_hiddens", "[256, 0]"], "num_hiddens must be"),
        (["kfold", "--study.num_folds", "1"], "num_folds must be in [2,"),
        (["linear_regression", "--trainer.max_epochs", "-2"],
         "--trainer.max_epochs must be a non-neg"),  # Lightning's `max_epochs`, as typed
        (["softmax_regression", "--data.batch_size", "0"],
         "softmax_regression/scratch: --data.batch_size must be >= 1, got 0"),
        (["softmax_regression", "--trainer.devices", "abc"], "--trainer.devices selected with"),
        (["linear_regression", "--trainer.max_epochs", "many"], "--trainer.max_epochs"),
        (["softmax_regression", "--model.lr", "abc"], "--model.lr"),
        (["softmax_regression", "--model.lr", "0"], "lr must be > 0"),
        (["softmax_regression", "--model.num_inputz", "3"], "num_inputs"),
        (["softmax_regression", "--model.style", "fancy"], "scratch, concise"),
        (["softmax_regression", "--data.batch_size", "0"], "batch_size"),
        (["softmax_regression", "--data.train_size", "-5"], "train_size"),
        (["linear_regression", "--study.member", "nope"], "scratch, concise"),
        # A Union's first member (the class) links its error: the import that failed.
        (["linear_regression", "--model.class_path", "modules.Nope"],
         "--model.class_path modules.Nope: cannot import it (no such module or class)"),
        # The denial is in a later member's text (list of callbacks first, then one).
        (["linear_regression", "--trainer.callbacks", "nopkg.X"],
         "--trainer.callbacks: class_path nopkg.X is not allowed"),
        (["linear_regression", "--config", "a: [1"], "--config YAML, line 1: expected ','"),
    ],
)
def test_out_of_range_and_unknown_values_name_the_key_and_what_it_accepts(
        capsys, logdir, args, named):
    assert named in refused(capsys, logdir, *args)


@pytest.mark.parametrize(
    "text, named",
    [
        ("model:\n  init_args:\n    lr: [0.1\n", "bad.yaml, line 4: expected ',' or ']'"),
        ("model:\n  init_args:\n    lr: 0.1\n    lr: 0.2\n", "line 4: key 'lr' is given twice"),
        ("trainer:\n  max_epochs: 2\ntrainer:\n  max_epochs: 3\n", "key 'trainer' is given twice"),
        # The safe loader builds no Python objects, so this runs nothing.
        ("model: !!python/object/apply:os.system [touch PWNED]\n",
         "could not determine a constructor for the tag"),
    ],
)
def test_a_config_that_does_not_parse_or_names_a_key_twice_is_refused(
        capsys, logdir, tmp_path, monkeypatch, text, named):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text(text)
    assert named in refused(capsys, logdir, "linear_regression", "--config", "bad.yaml")
    assert not (tmp_path / "PWNED").exists()


def test_a_logdir_that_is_a_file_or_cannot_be_written_is_refused(capsys, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    for logdir in (a_file, a_file / "runs"):
        code = cli.main(["linear_regression", "--logdir", str(logdir)])
        assert code == 2
        assert f"{a_file} is a file, not a folder" in capsys.readouterr().err
    # Permission bits do not bind root (tests may run as root); nobody can create files in
    # /proc, so the logdir check has to really try.
    code = cli.main(["linear_regression", "--logdir", "/proc/fitlab-runs"])
    assert code == 2
    assert "--logdir /proc/fitlab-runs: cannot write in /proc" in capsys.readouterr().err


def test_a_member_name_that_would_escape_the_logdir_is_refused(capsys, logdir, tmp_path):
    config = tmp_path / "escape.yaml"
    config.write_text("study:\n  members:\n    ../escaped: {model.lr: 0.1}\n")
    message = refused(capsys, logdir, "linear_regression", "--config", str(config))
    assert "member name '../escaped' must be a plain folder name" in message
    assert not (tmp_path / "escaped").exists() and not (logdir.parent / "escaped").exists()


def test_a_package_that_is_not_there_is_refused_before_anything_runs(capsys, logdir):
    message = refused(capsys, logdir, "linear_regression", "--import", "mypkgg", "--fast")
    assert "--import mypkgg: no such package on the path" in message


def test_a_role_the_study_does_not_have_is_refused(capsys, logdir):
    message = refused(capsys, logdir, "perceptron", "--study.roles.nope", '["xor"]', "--fast")
    assert "--study.roles.nope: PerceptronStudy has no such role; its roles are " \
           "separable, xor" in message


def test_a_member_named_as_the_mean_runs_folder_is_refused(capsys, logdir, tmp_path):
    # The summary rewrites <experiment>/mean/ (TensorBoard's mean curves): a member's run
    # folder there would be deleted.
    config = tmp_path / "mean.yaml"
    config.write_text("study:\n  members:\n    mean: {model.lr: 0.1}\n")
    message = refused(capsys, logdir, "linear_regression", "--config", str(config))
    assert "member name 'mean' is where the members' mean curves go" in message
    assert not logdir.exists() or not any(logdir.iterdir())


@pytest.mark.parametrize(
    "args",
    [
        ["--config", "{config}"],  # a class of another package, in a config file
        ["--model", "planted.Model"],  # ... on the command line
        ["--model.class_path", "os.system"],
        ["--trainer.callbacks+=subprocess.Popen"],
        ["--study.class_path", "builtins.exec"],
    ],
)
def test_only_fitlabs_classes_may_be_named_and_others_are_not_even_imported(
        capsys, logdir, tmp_path, monkeypatch, args):
    # A module that would leave a mark if it were ever imported.
    (tmp_path / "planted.py").write_text(
        "from pathlib import Path\nPath(__file__).with_name('IMPORTED').touch()\n"
        "class Model:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    config = tmp_path / "planted.yaml"
    config.write_text("model:\n  class_path: planted.Model\n")
    args = [arg.format(config=config) for arg in args]
    message = refused(capsys, logdir, "linear_regression", *args)
    assert "is not allowed; settings may only name classes of fitlab" in message
    assert not (tmp_path / "IMPORTED").exists()


def test_lightning_callbacks_and_fitlabs_own_classes_are_still_allowed(tmp_path):
    plan = cli.plans_for(["linear_regression"], [
        "--logdir", str(tmp_path), "--trainer.callbacks+=EarlyStopping",
        "--trainer.callbacks.monitor=val/loss", "--model", "modules.LinearRegression"])[0][1]
    model, _, trainer_args = plan.instantiate(plan.members[0])
    assert type(model).__name__ == "LinearRegression"
    assert type(trainer_args["callbacks"][0]).__name__ == "EarlyStopping"


@pytest.mark.parametrize(
    "args, named",
    [
        (["mlp", "--data", "datamodules.XORPoints", "--data.batch_size", "20"],
         "mlp/scratch: --model.num_inputs is 784 but the data (XORPoints, --data.batch_size) "
         "gives 2 inputs per example; set --model.num_inputs 2"),
        (["mlp", "--model.num_outputs", "5"],
         "--model.num_outputs is 5 but the data (FashionMNISTDataModule) gives 10 classes"),
        (["mlp", "--trainer.max_epochs", "0"],
         "mlp/scratch: --trainer.max_epochs 0 trains nothing and saves no last.ckpt"),
        (["mlp", "--trainer.accelerator", "cpu", "--trainer.devices", str(CORES + 1)],
         f"--trainer.devices {CORES + 1} on CPU: DDP would start {CORES + 1} processes on "
         f"{CORES} cores, each taking its own batch (a step's batch becomes devices × "
         f"--data.batch_size); use --trainer.devices {CORES} or fewer"),
        (["mlp", "--trainer.enable_checkpointing", "false"],
         "--trainer.enable_checkpointing false: every fitlab run saves checkpoints/last.ckpt"),
        (["mlp", "--model.optimizer", "adam", "--model.momentum", "0.9"],
         "momentum applies to optimizer sgd only"),
        (["perceptron", *DDP], "perceptron/separable: --trainer.devices/--trainer.num_nodes "
                               "give 2 processes, but the perceptron updates after each"),
        (["foundations", *DDP], "foundations/default: --trainer.devices/--trainer.num_nodes "
                                "give 2 processes"),
        (["foundations", "--study.member", "0"], "--study.member and --study.report_only do "
                                                 "not apply"),
        (["foundations", "--study.report_only", "true"], "do not apply"),
    ],
)
def test_settings_that_cannot_work_together_are_refused_before_anything_runs(
        capsys, logdir, args, named):
    assert named in refused(capsys, logdir, *args)


def test_the_same_settings_pass_when_they_agree(tmp_path):
    plan = cli.plans_for(["mlp"], ["--logdir", str(tmp_path), "--study.member", "relu",
                                   "--data", "datamodules.XORPoints", "--model.num_inputs", "2",
                                   "--model.num_outputs", "2"])[0][1]
    assert plan.members[0].config.model.init_args.num_inputs == 2


@pytest.mark.parametrize("args, named", [
    (["mlp", "--model.activation", "tanh"],
     "mlp: --model.activation tanh changes what members are (model.activation of relu: relu, "
     "sigmoid: sigmoid): they would be other runs under their names; run --study.member "
     "tanh for that member"),
    (["mlp", "--study.member", "relu", "--model.activation", "tanh"],
     "--model.activation tanh changes what members are (model.activation of relu: relu)"),
    (["polynomial", "--data.degree", "5"], "run --study.member degree=5 for that member"),
    (["kfold", "--data.fold", "1"], "--data.fold 1 changes what members are"),
    (["mlp", "--model.style", "scratch"],  # relu then is scratch, under another name
     "mlp: members scratch and relu would be the same run"),
    # A class swap: refused whether or not the user also sets the dropped key.
    (["mlp", "--model.class_path", "modules.SoftmaxRegression"],
     "--model.class_path modules.SoftmaxRegression does not take model.activation, which "
     "members set (relu: relu, sigmoid: sigmoid, tanh: tanh)"),
    (["mlp", "--model.class_path", "modules.SoftmaxRegression", "--model.activation", "tanh"],
     "unknown option --model.activation: not a setting of SoftmaxRegression"),
    (["polynomial", "--model.class_path", "modules.LeastSquares"],
     "--model.class_path modules.LeastSquares changes what members are (model.class_path of "
     "book_underfit: modules.LinearRegression"),
])
def test_an_option_that_changes_what_members_are_is_refused(capsys, logdir, args, named):
    assert named in refused(capsys, logdir, *args)
