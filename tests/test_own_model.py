"""Studies over one's own model and data (docs/own_model.md, linked from README): a package
outside the repository opted in, the classes that cannot go where they are named
refused saying what to do, and the worked example run as a reader would: its code blocks
written into a package in a folder outside the repository, its command run there as
printed (FITLAB standing for this repository)."""

import json
import re
import shlex

import pytest
import torch

from experiments.engine import cli, config, registry
from tests.conftest import ROOT, metrics, run_cli, scalars

PAGE = ROOT / "docs" / "own_model.md"  # README links it; its code blocks are the example

# Classes of one's own that fitlab cannot take as they are.
PLAIN = """
import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class PlainModel(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Linear(2, 2)

    def forward(self, X):
        return self.net(X)


class PlainData(L.LightningDataModule):
    def train_dataloader(self):
        return DataLoader(TensorDataset(torch.randn(8, 2), torch.arange(8) % 2))


class NotAModule:
    pass
"""


def worked_example() -> tuple[dict[str, str], list[str]]:
    """The page's files ({path: text}, each block's first line `# PATH`) and its
    command, split as a shell would."""
    files, commands = {}, []
    for language, body in re.findall(r"```(\w+)\n(.*?)```", PAGE.read_text(), re.DOTALL):
        if language == "bash":
            commands.append(body.strip())
        elif first := re.match(r"# ([\w/.]+\.(?:py|yaml))\b", body):
            files[first[1]] = body
    assert len(commands) == 1, commands
    return files, shlex.split(commands[0])


@pytest.fixture(scope="module")
def own_package(tmp_path_factory):
    """The page's package, importable (its folder on sys.path) but not opted in, with the
    plain classes beside it; the README's config file's path."""
    project = tmp_path_factory.mktemp("project")
    write_project(project)
    (project / "mypkg" / "plain.py").write_text(PLAIN)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(project))
        yield project / "own.yaml"


def write_project(project):
    files, _ = worked_example()
    assert set(files) == {"mypkg/models.py", "mypkg/data.py", "own.yaml"}
    (project / "mypkg").mkdir(parents=True)
    (project / "mypkg" / "__init__.py").write_text("")
    for path, text in files.items():
        (project / path).write_text(text)


def refused(capsys, tmp_path, *args: str) -> str:
    """`run.py capacity ARGS` in process: exit 2, one line, nothing written; the line."""
    logdir = tmp_path / "runs"
    code = cli.main(["capacity", "--fast", "--logdir", str(logdir), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert not logdir.exists()
    return err


NET = ["--model.class_path", "modules.WrappedClassifier", "--model.num_outputs", "2"]


def test_a_package_is_imported_only_once_opted_in(capsys, tmp_path, own_package):
    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / "plantedpkg.py").write_text(
        "from pathlib import Path\nPath(__file__).with_name('IMPORTED').touch()\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(planted))
        message = refused(capsys, tmp_path, *NET, "--model.net", "plantedpkg.Net")
    assert "class_path plantedpkg.Net is not allowed" in message
    assert message.endswith("or of a package you opt in: --import plantedpkg")
    assert not (planted / "IMPORTED").exists()
    for opt_in in (["--import", "mypkg"], ["--config", "import: [mypkg]"]):
        _, plan = config.plan(registry.load("capacity"), [
            "--fast", "--config", str(own_package), "--logdir", str(tmp_path), *opt_in])
        assert plan.members[0].config.model.init_args.net.class_path == "mypkg.models.TinyMLP"
    # The opt-in is this command's: the next one without it is refused again.
    refused(capsys, tmp_path, *NET, "--model.net", "mypkg.models.TinyMLP")


@pytest.mark.parametrize("name", ["os", "subprocess.run", "json", "jsonargparse", "my-pkg"])
def test_only_ones_own_packages_can_be_opted_in(capsys, tmp_path, name):
    message = refused(capsys, tmp_path, "--import", name)
    assert message.startswith(f"error: --import {name}: ")


@pytest.mark.parametrize("args, says", [
    (["--model.class_path", "mypkg.plain.PlainModel"],
     "--model.class_path mypkg.plain.PlainModel: a LightningModule but not a fitlab model"),
    (["--model.class_path", "mypkg.models.TinyMLP"],
     "a plain torch.nn.Module, not a fitlab model; give it as the network: --model.class_path "
     "modules.WrappedClassifier --model.net.class_path mypkg.models.TinyMLP"),
    ([*NET, "--model.net", "mypkg.plain.NotAModule"],
     "--model.net.class_path mypkg.plain.NotAModule: not a torch.nn.Module"),
    (["--data.class_path", "datamodules.WrappedData", "--data.dataset", "mypkg.plain.NotAModule"],
     "--data.dataset.class_path mypkg.plain.NotAModule: not a torch Dataset or a "
     "LightningDataModule"),
    # With members of one's own: capacity's members set data settings PlainData lacks.
    (["--data.class_path", "mypkg.plain.PlainData", "--study.members", '{"one": {}}',
      "--study.grid", "{}"],
     "--data.class_path mypkg.plain.PlainData: a LightningDataModule, but not one fitlab holds "
     "in memory"),
])
def test_a_class_fitlab_cannot_take_is_refused_saying_how_to_wrap_it(
        capsys, tmp_path, own_package, args, says):
    assert says in refused(capsys, tmp_path, "--import", "mypkg", *args)


def test_seeds_of_ones_own_network_train_as_one_group_as_they_would_one_by_one(
        tmp_path, own_package):
    grid = ["--study.grid", "{model.net.init_args.num_hiddens: [4]}"]
    finals = {}
    for vectorize in ("true", "false"):
        study, plan = config.plan(registry.load("capacity"), [
            "--config", str(own_package), "--fast", "--trainer.max_epochs", "3", *grid,
            "--study.vectorize", vectorize, "--logdir", str(tmp_path / vectorize)])
        finals[vectorize] = [r["metrics"]["val/loss"] for r in study.run(plan)]
    assert len(finals["true"]) == 3 and len(set(finals["true"])) == 3  # seeds differ
    assert finals["true"] == pytest.approx(finals["false"], rel=1e-4)


@pytest.mark.slow
def test_the_pages_own_model_and_data_run_a_capacity_sweep_with_seeds(tmp_path, monkeypatch):
    _, command = worked_example()
    project = tmp_path / "project"
    write_project(project)
    # PYTHONPATH=. FITLAB/.venv/bin/python FITLAB/experiments/run.py ARGS
    assert command[:3] == ["PYTHONPATH=.", "FITLAB/.venv/bin/python",
                           "FITLAB/experiments/run.py"], command
    monkeypatch.setenv("PYTHONPATH", ".")  # the project folder (the cwd), and not this repo
    done = run_cli(*command[3:], cwd=project)
    assert done.returncode == 0, done.stderr[-3000:]

    folder = project / "runs" / "capacity"
    summary = {row["member"]: row for row in json.loads((folder / "summary.json").read_text())}
    widths = [1, 4, 16, 256]
    assert list(summary) == [f"num_hiddens={w}" for w in widths]
    assert {row["seeds"] for row in summary.values()} == {3}
    assert (folder / "summary.md").read_text().count("underfitting") >= 1
    assert (folder / "grid.png").stat().st_size > 0

    for width in widths:
        runs = [folder / f"num_hiddens={width},seed={k}" for k in range(3)]
        finals = [metrics(run)["metrics"]["val/loss"] for run in runs]
        assert len(set(finals)) == 3, finals  # each seed its own init, order and split
        assert all(metrics(run)["status"] == "completed" for run in runs)
        assert all(r["epochs"] == 100 for r in map(metrics, runs))
        # The network is the user's: its hidden layer has `width` units in the checkpoint.
        weights = torch.load(runs[0] / "checkpoints" / "last.ckpt", weights_only=True)
        assert weights["state_dict"]["net.hidden.weight"].shape == (width, 2)
    # Learning, read back from TensorBoard: width 4's val/loss falls from its first epoch,
    # and every seed ends below ln 2, the loss of a 50/50 guess (a net before it learns).
    for k in range(3):
        curve = [value for _, value in scalars(folder / f"num_hiddens=4,seed={k}")["val/loss"]]
        assert len(curve) == 100
        assert min(curve) < curve[0] - 0.05 and curve[-1] < 0.6931
    # One hidden unit: logits differ by a monotone function of one projection of X, so
    # the classes are split by a line, and a line puts at most 3 of XOR's 4 blobs on their
    # side (0.75, less the blobs' overlap). Four units can draw XOR's boundary.
    acc = {w: summary[f"num_hiddens={w}"]["val/acc"] for w in widths}
    assert acc[1] < 0.75 < min(acc[w] for w in widths[1:])
    assert summary["num_hiddens=1"]["verdict"] == "underfitting"
    best = min(summary, key=lambda name: summary[name]["val/loss"])
    assert best == "num_hiddens=4", best
    # What the page's table shows, from this run (the same seeds give the same numbers on CPU).
    page = PAGE.read_text()
    for width in widths:
        row = summary[f"num_hiddens={width}"]
        shown = f"| num_hiddens={width} | {row['train/loss']:.3f} ± "
        assert shown in page, shown
        assert f"| {row['verdict']} |" in page.split(shown)[1].splitlines()[0]


def test_a_net_whose_outputs_are_not_num_outputs_fails_its_runs_saying_what_to_set(
        capsys, tmp_path, own_package):
    # Found once training starts (the net's outputs are known at its first forward): each
    # run fails with the message alone, no traceback, and the other experiments would go on.
    code = cli.main(["capacity", "--fast", "--logdir", str(tmp_path / "runs"), "--import",
                     "mypkg", "--config", str(own_package),
                     "--model.num_outputs", "3", "--study.seeds", "1"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "outputs per example but num_outputs is 3: set --model.num_outputs 2" in err
