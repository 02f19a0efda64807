"""The `dropout` experiment: its members, validation's choices, the regularisers side by
side (the law of dropout itself is tested in test_mlp.py, its groups in
test_members_stacked.py)."""

import json

import pytest
from conftest import metrics, run_main

from experiments.engine import config, registry
from experiments.engine.aggregate import merge_seeds
from experiments.engine.groups import grouped
from experiments.engine.study import merged
from experiments.studies.dropout import Dropout


def planned(*options: str):
    return config.plan(registry.load("dropout"), list(options))


def test_the_book_members_run_three_seeds_and_the_setup_five():
    study, plan = planned()
    seeds = {}
    for member in plan.members:
        seeds[member.base_name] = seeds.get(member.base_name, 0) + 1
    assert seeds["scratch"] == seeds["concise"] == 3
    assert {seeds[name] for name in seeds if name not in ("scratch", "concise")} == {5}
    assert [m.base_name for m in plan.members if m.final] == ["scratch"] * 3 + ["concise"] * 3
    book = next(m for m in plan.members if m.name == "scratch,seed=0").config
    assert book.model.init_args.dropout == [0.2, 0.5] and book.model.init_args.lr == 0.5


def test_every_rate_and_lambda_of_the_setup_trains_as_one_group():
    _, plan = planned()
    setup = [m for m in plan.members if not m.final]
    groups = grouped(setup)
    assert len(groups) == 1 and len(groups[0]) == (7 + 5) * 5


def run(name: str, seed: int, **metrics) -> dict:
    return {"member": f"{name},seed={seed}", "status": "completed", "epochs": 300,
            "seconds": 1.0, "metrics": metrics}


def sweep_results(best_rate: float, best_lambda: float) -> list[dict]:
    """Validation losses lowest at best_rate, and at best_lambda below dropout=0's (λ = 0)."""
    rates, lambdas = [0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8], [0.0001, 0.0003, 0.001, 0.003, 0.01]
    runs = [run(f"dropout={r:g}", s, **{"val/loss": 1.5 + abs(r - best_rate)})
            for r in rates for s in range(2)]
    runs += [run(f"wd={lam:g}", s, **{"val/loss": 1.49 + abs(lam - best_lambda)})
             for lam in lambdas for s in range(2)]
    return merge_seeds(runs)


def test_validation_chooses_the_rate_and_lambda_and_the_finals_carry_them():
    study, plan = planned()
    base, _ = merged(plan, [])
    later = {m.name: m for m in study.later_members(base, sweep_results(0.3, 0.001))}
    assert list(later) == ["none", "l2", "dropout", "both"]
    settings = {name: (m.config.model.init_args.dropout, m.config.model.init_args.weight_decay,
                       m.final) for name, m in later.items()}
    assert settings == {"none": (0.0, 0.0, True), "l2": (0.0, 0.001, True),
                        "dropout": (0.3, 0.0, True), "both": (0.3, 0.001, True)}
    # A choice of 0 would make copies of `none` under other names: they are left out.
    later = study.later_members(base, sweep_results(0.0, 0.001))
    assert [m.name for m in later] == ["none", "l2"]


def test_a_regulariser_is_called_better_only_beyond_two_standard_errors():
    def finals(shift: float) -> list[dict]:
        runs = [run("none", s, **{"test/acc": 0.5 + 0.01 * s}) for s in range(5)]
        runs += [run("dropout", s, **{"test/acc": 0.5 + 0.01 * s + shift + 0.002 * (-1) ** s})
                 for s in range(5)]
        return merge_seeds(runs)

    study = Dropout(rates=[0], members={"scratch": {}})
    # Paired differences +0.012 or +0.008 (shift 0.01): mean 0.0104, se ~0.001: it helps.
    assert "dropout helps (+0.010" in study.regulariser_sentence(finals(0.01))
    # shift 0.001: differences +0.003, −0.001: within noise, whatever the sign of the mean.
    assert "dropout within noise" in study.regulariser_sentence(finals(0.001))


@pytest.mark.slow
def test_the_dropout_experiment_writes_its_study(logdir):
    done = run_main("dropout", "--fast", logdir=logdir)
    assert done.returncode == 0, done.stderr
    study = logdir / "dropout"
    for name in ("scratch,seed=0", "none,seed=0"):
        assert "test/acc" in metrics(study / name)["metrics"]
    assert "test/acc" not in metrics(study / "dropout=0.5,seed=0")["metrics"]  # selects
    summary = (study / "summary.md").read_text()
    assert "The regularisers side by side" in summary
    for figure in ("rates", "regularisers", "curves"):
        assert (study / f"{figure}.png").stat().st_size > 10_000
    headline = json.loads((study / "headline.json").read_text())
    assert "scratch test/acc" in headline["ours"] and "d2l 4.6" in headline["book"]
