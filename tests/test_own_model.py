"""README's "Your own model and data" worked example, run as a reader would: its code
blocks written into a package in a folder outside the repository, its command run there
as printed (FITLAB standing for this repository)."""

import json
import re
import shlex

import pytest
import torch

from tests.conftest import ROOT, metrics, run_cli, scalars

pytestmark = pytest.mark.slow


def worked_example() -> tuple[dict[str, str], list[str]]:
    """The section's files ({path: text}, each block's first line `# PATH`) and its
    command, split as a shell would."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Your own model and data\n")[1].split("\n## ")[0]
    files, commands = {}, []
    for language, body in re.findall(r"```(\w+)\n(.*?)```", section, re.DOTALL):
        if language == "bash":
            commands.append(body.strip())
        elif first := re.match(r"# ([\w/.]+\.(?:py|yaml))\b", body):
            files[first[1]] = body
    assert len(commands) == 1, commands
    return files, shlex.split(commands[0])


def test_the_readmes_own_model_and_data_run_a_capacity_sweep_with_seeds(tmp_path, monkeypatch):
    files, command = worked_example()
    assert set(files) == {"mypkg/models.py", "mypkg/data.py", "own.yaml"}
    project = tmp_path / "project"
    (project / "mypkg").mkdir(parents=True)
    (project / "mypkg" / "__init__.py").write_text("")
    for path, text in files.items():
        (project / path).write_text(text)
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
    # What README's table shows, from this run (the same seeds give the same numbers on CPU).
    readme = (ROOT / "README.md").read_text()
    for width in widths:
        row = summary[f"num_hiddens={width}"]
        shown = f"| num_hiddens={width} | {row['train/loss']:.3f} ± "
        assert shown in readme, shown
        assert f"| {row['verdict']} |" in readme.split(shown)[1].splitlines()[0]
