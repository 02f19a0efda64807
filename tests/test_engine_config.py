"""Settings precedence and planning, in process: experiment YAML < the member's overrides
< --fast < the user's --config files and options (the user has the last word)."""

from pathlib import Path

import pytest

from experiments.engine import config, registry
from experiments.engine.plan import SEED_SEPARATOR


def planned(name: str, *options: str) -> dict[str, dict]:
    """member -> its resolved settings (as config.yaml holds them), for `run.py NAME OPTIONS`
    (seed 0's where the study runs several)."""
    _, plan = config.plan(registry.load(name), list(options))
    return {m.base_name: m.settings() for m in plan.members
            if m.name in (m.base_name, f"{m.base_name}{SEED_SEPARATOR}0")}


def epochs(settings: dict) -> int:
    return settings["trainer"]["max_epochs"]


def momentum(settings: dict) -> float:
    return settings["model"]["init_args"]["momentum"]


def test_a_members_overrides_beat_the_experiments_yaml():
    members = planned("softmax_regression")
    assert epochs(members["concise"]) == 10 and momentum(members["concise"]) == 0  # YAML
    assert epochs(members["tuned"]) == 15 and momentum(members["tuned"]) == 0.9  # member
    assert members["scratch"]["model"]["init_args"]["style"] == "scratch"


def test_fast_beats_the_members_overrides():
    members = planned("softmax_regression", "--fast")
    assert {epochs(s) for s in members.values()} == {2}  # tuned's 15 too
    assert {s["trainer"]["limit_train_batches"] for s in members.values()} == {4}
    assert momentum(members["tuned"]) == 0.9  # --fast limits the run, not the model


def test_the_users_options_beat_fast_and_the_members_trainer_settings(tmp_path: Path):
    members = planned("softmax_regression", "--fast", "--trainer.max_epochs", "3",
                      "--model.lr", "0.01")
    assert {epochs(s) for s in members.values()} == {3}  # beats --fast's 2 and tuned's 15
    assert {s["model"]["init_args"]["lr"] for s in members.values()} == {0.01}
    file = tmp_path / "mine.yaml"
    file.write_text("trainer:\n  max_epochs: 5\nmodel:\n  init_args:\n    lr: 0.3\n")
    members = planned("softmax_regression", "--fast", "--config", str(file))
    assert {epochs(s) for s in members.values()} == {5}
    assert {s["model"]["init_args"]["lr"] for s in members.values()} == {0.3}


def test_later_user_options_beat_earlier_ones():
    members = planned("linear_regression", "--model.lr", "0.1", "--model.lr", "0.2")
    assert {s["model"]["init_args"]["lr"] for s in members.values()} == {0.2}


def test_fast_runs_go_to_their_own_logdir_unless_one_is_given(tmp_path: Path):
    def folder(*options: str) -> Path:
        return config.plan(registry.load("foundations"), list(options))[1].folder
    assert folder() == Path("runs/foundations")
    assert folder("--fast") == Path("runs-fast/foundations")
    assert folder("--fast", "--logdir", str(tmp_path)) == tmp_path / "foundations"


@pytest.mark.slow  # parsing takes ~0.3 s a member, and there are 76
@pytest.mark.parametrize("name", registry.names())
def test_every_experiment_plans_every_member_with_its_defaults(name):
    study, plan = config.plan(registry.load(name), [])
    assert list(dict.fromkeys(m.base_name for m in plan.members)) == list(study.all_members())
    assert len(plan.members) == sum(map(study.seeds_of, study.all_members()))  # their seeds
    assert all(m.folder == plan.folder / m.name for m in plan.members)


@pytest.mark.slow  # every member parsed too: ~8 s for kfold's 100
@pytest.mark.parametrize("name, options, derivable", [
    ("kfold", [], 99),  # all but the first differ in degree and fold alone
    ("kfold", ["--data", "datamodules.PolynomialData"], 0),  # the user's data: parse each
    ("weight_decay", [], 17),  # λ grids: 0, 1, 3, 10 are ints given for a float setting
])
def test_members_derived_from_an_earlier_ones_settings_equal_their_own_parse(
        name, options, derivable, monkeypatch):
    derive, derivations = config.derived, []

    def counted(*args):
        derivations.append(derive(*args))
        return derivations[-1]

    monkeypatch.setattr(config, "derived", counted)
    members = planned(name, *options)
    assert sum(d is not None for d in derivations) == derivable
    monkeypatch.setattr(config, "derived", lambda *a: None)  # every member parsed
    assert repr(planned(name, *options)) == repr(members)  # 3 == 3.0, but not as text


def test_a_trainer_setting_replaces_a_members_own_and_the_plan_says_so():
    _, plan = config.plan(registry.load("softmax_regression"), ["--trainer.max_epochs", "3"])
    assert {m.config.trainer.max_epochs for m in plan.members} == {3}
    assert plan.notes == ["note: --trainer.max_epochs 3 replaces the members' own "
                          "trainer.max_epochs (tuned: 15)"]
    assert config.plan(registry.load("softmax_regression"), ["--fast"])[1].notes == []


def test_a_class_swap_that_takes_every_members_settings_carries_them():
    # polynomial's book members set LinearRegression themselves; the others get it too,
    # each with its own degree and inputs.
    _, plan = config.plan(registry.load("polynomial"), [
        "--model.class_path", "modules.LinearRegression", "--study.seeds", "1"])
    normal = next(m for m in plan.members if m.name == "normal")
    assert normal.config.model.class_path == "modules.LinearRegression"
    assert (normal.config.data.init_args.degree, normal.config.model.init_args.num_inputs) == (3, 4)


def test_several_processes_say_what_they_do_to_the_batch():
    _, plan = config.plan(registry.load("softmax_regression"), [
        "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp"])
    assert plan.notes == ["note: 2 processes (DDP) each take --data.batch_size 256 a step: "
                          "512 examples in all (give 128 to keep 256)"]


def test_planning_leaves_jsonargparse_as_the_process_had_it(tmp_path, monkeypatch):
    from jsonargparse import ArgumentParser, get_loader
    from jsonargparse._common import get_parsing_setting

    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(tmp_path)  # a package of one's own to opt in
    policy = {key: get_parsing_setting(key)
              for key in ("import_path_verdicts", "import_paths_enforced")}
    yaml_loader = get_loader("yaml")
    config.plan(registry.load("linear_regression"), ["--import", "mypkg"])
    assert {key: get_parsing_setting(key) for key in policy} == policy
    assert get_loader("yaml") is yaml_loader
    # Another parser in this process parses as jsonargparse does: PyYAML keeps a repeated
    # key's last value (fitlab's own parser refuses it: test_bad_input), and it may name a
    # class outside fitlab's packages.
    other = ArgumentParser(exit_on_error=False)
    other.add_argument("--x", type=dict)
    other.add_argument("--cls", type=type)
    parsed = other.parse_args(["--x", "{a: 1, a: 2}", "--cls", "collections.OrderedDict"])
    assert parsed.x == {"a": 2} and parsed.cls.__name__ == "OrderedDict"
