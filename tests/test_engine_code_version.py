"""Results know which code made them: the source hash, recorded in config.yaml and
metrics.json; a rerun after a code change says so, --overwrite and --rerun train again."""

import json

import pytest
from conftest import run_main

from experiments.engine import code_version, config, registry

FAST = ("linear_regression", "--fast", "--study.member", "concise")


def test_the_source_hash_follows_the_python_files_and_nothing_else(tmp_path):
    (tmp_path / "modules").mkdir()
    (tmp_path / "experiments" / "configs").mkdir(parents=True)
    model, settings = tmp_path / "modules" / "model.py", tmp_path / "experiments/configs/a.yaml"
    model.write_text("LR = 0.1\n")
    settings.write_text("lr: 0.1\n")
    before = code_version.source_hash(tmp_path)
    settings.write_text("lr: 0.2\n")  # settings are compared one by one, not hashed
    (tmp_path / "modules" / "__pycache__").mkdir()
    (tmp_path / "modules" / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"\0")
    assert code_version.source_hash(tmp_path) == before
    model.write_text("LR = 0.2\n")
    assert code_version.source_hash(tmp_path) != before


def saved(logdir, name="concise") -> dict:
    return json.loads((logdir / "linear_regression" / name / "metrics.json").read_text())


@pytest.fixture
def other_code(monkeypatch):
    """From now on the process runs other code than before."""
    def switch():
        monkeypatch.setattr(code_version, "current", lambda: {"source": "0123456789ab"})
    return switch


def test_a_rerun_after_a_code_change_says_so_and_overwrite_trains_again(logdir, other_code):
    assert run_main(*FAST, logdir=logdir).returncode == 0
    first = saved(logdir)
    assert first["code"] == code_version.current()  # this checkout's source hash
    config_yaml = (logdir / "linear_regression/concise/config.yaml").read_text()
    assert config_yaml.startswith(f"# code: {json.dumps(code_version.current())}\n")

    again = run_main(*FAST, logdir=logdir)  # the same code: reused without a word
    assert "finished earlier (completed): reusing" in again.stdout
    other_code()
    changed = run_main(*FAST, logdir=logdir)
    assert changed.returncode == 0
    assert (f"finished earlier (completed) by other code (source {first['code']['source']}"
            in changed.stdout)
    assert "now source 0123456789ab; --overwrite trains it again" in changed.stdout
    assert saved(logdir) == first  # reused, as it says
    assert run_main(*FAST, "--overwrite", logdir=logdir).returncode == 0
    assert saved(logdir)["code"] == {"source": "0123456789ab"}  # trained by this code


def test_rerun_trains_again_with_unchanged_settings_and_code(logdir):
    assert run_main(*FAST, logdir=logdir).returncode == 0
    first = saved(logdir)
    # A mark no training writes (its seconds, not the run's), so the rerun must replace it
    # (two runs can take the same milliseconds).
    marked = logdir / "linear_regression" / "concise" / "metrics.json"
    marked.write_text(json.dumps({**first, "seconds": -1.0}))
    rerun = run_main(*FAST, "--rerun", logdir=logdir)
    assert "reusing" not in rerun.stdout and saved(logdir)["seconds"] >= 0
    assert saved(logdir)["metrics"] == first["metrics"]  # same seed, same numbers


def test_config_yaml_with_its_code_line_still_loads_as_a_config(logdir):
    assert run_main(*FAST, logdir=logdir).returncode == 0
    path = logdir / "linear_regression" / "concise" / "config.yaml"
    _, plan = config.plan(registry.load("linear_regression"),
                          ["--config", str(path), "--study.member", "concise"])
    assert plan.members[0].settings() == config.plan(registry.load("linear_regression"), [
        *FAST[1:], "--logdir", str(logdir)])[1].members[0].settings()
