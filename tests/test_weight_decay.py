"""Weight decay: the penalty option, what SGD cannot move, the setup
where decay helps, and the study end to end."""

import copy
import json
import statistics

import pytest
import torch
from conftest import run_main

from datamodules import HighDimensionalData
from experiments.engine import aggregate, cli, config, registry
from experiments.engine.aggregate import mean_se
from experiments.engine.plan import seed_of
from experiments.studies.weight_decay import WeightDecay, initial_weights, unseen_part
from modules import LeastSquares, LinearRegression


def test_the_penalty_way_takes_weight_decay_out_of_the_optimizer():
    penalty = LinearRegression(weight_decay=3, decay="penalty").make_optimizer()
    optimizer = LinearRegression(weight_decay=3).make_optimizer()
    assert [g["weight_decay"] for g in penalty.param_groups] == [0.0, 0.0]
    assert [g["weight_decay"] for g in optimizer.param_groups] == [3, 0.0]  # weight, not bias


def test_the_high_dimensional_data_is_the_books():
    data = HighDimensionalData()
    data.setup()
    assert data.true_w.tolist() == [pytest.approx(0.01)] * 200 and data.true_b == 0.05
    assert [len(data.splits[s]) for s in ("train", "val")] == [20, 100]


@pytest.mark.slow
def test_the_study_says_what_the_books_gap_is_made_of_and_where_decay_helps(logdir):
    # The YAML's sweeps but the MLP and the book's λ grid beyond 0 and 3.
    sweeps = registry.load("weight_decay").defaults["study"]["init_args"]["sweeps"]
    sweeps = [s for s in sweeps if s["prefix"] != "mlp,"]
    sweeps[0] = {**sweeps[0], "lambdas": [0, 3]}
    done = run_main("weight_decay", "--study.sweeps", json.dumps(sweeps), logdir=logdir)
    assert done.returncode == 0, done.stderr
    study = logdir / "weight_decay"
    rows = {row["member"]: row for row in json.loads((study / "summary.json").read_text())}
    free, decayed = rows["wd=0"], rows["wd=3"]
    # The book's numbers, and what they are: w₀'s part the 20 inputs cannot see, decayed.
    assert free["w_norm"] > 10 and decayed["w_norm"] < 1  # the book: ≈ 13 and ≈ 0.36
    assert free["w_norm"] == pytest.approx(free["w0_unseen_norm"], rel=1e-3)
    assert decayed["w_norm"] == pytest.approx(decayed["w0_unseen_norm"] * 0.991**400, rel=0.03)
    # The closed forms beat every trained member, from N(0, 1) or from 0.
    closed = max(rows[m]["val/loss"] for m in ("ridge,wd=0", "ridge,wd=3"))
    assert closed < min(rows[m]["val/loss"] for m in ("wd=0", "wd=3", "sigma=0,wd=3"))
    assert closed < free["mean_val_loss"]
    text = (study / "summary.md").read_text()
    takeaway = next(part for part in text.split("\n\n") if part.startswith("**Takeaway"))
    for number in (free["w_norm"], free["w0_unseen_norm"], decayed["w_norm"],
                   rows["ridge,wd=0"]["val/loss"], free["mean_val_loss"]):
        assert f"{number:.3g}" in takeaway
    # The interior optimum, chosen on validation, tested: the grid points are not.
    chosen = [name for name in rows if name.startswith("final,n=150,")]
    assert len(chosen) == 1 and "test/loss" in rows[chosen[0]]
    assert "test/loss" not in rows["n=150,wd=1"] or chosen[0] == "final,n=150,wd=1"
    for end in ("n=150,wd=0", "n=150,wd=10"):
        assert rows[end]["test/loss"] > rows[chosen[0]]["test/loss"]
    assert "Where weight decay does help" in takeaway
    assert {"lambda.png", "optimum.png", "curves.png"} <= {p.name for p in study.iterdir()}


def test_sgds_weight_decay_is_the_same_step_as_the_penalty():
    # Why the study runs the penalty alone: torch.optim.SGD's weight_decay adds λw to the
    # gradient, the gradient of λ/2·‖w‖².
    X, y = torch.randn(5, 200), torch.randn(5, 1)
    torch.manual_seed(0)
    penalty = LinearRegression(num_inputs=200, sigma=1.0, lr=0.003, weight_decay=3,
                               decay="penalty")
    by_optimizer = copy.deepcopy(penalty)
    by_optimizer.decay = "optimizer"
    for model in (penalty, by_optimizer):
        optimizer = model.make_optimizer()
        loss = model.loss(model(X), y)
        if model.decay == "penalty":
            loss = loss + 3 / 2 * (model.net.weight**2).sum()
        loss.backward()
        optimizer.step()
    torch.testing.assert_close(penalty.net.weight, by_optimizer.net.weight)


def test_the_unseen_part_of_w0_is_what_sgd_cannot_move():
    _, plan = config.plan(registry.load("weight_decay"), ["--study.member", "wd=0"])
    model, data, _ = plan.instantiate(plan.members[0])
    data.setup()
    w0 = model.weights()[0].clone()
    torch.testing.assert_close(initial_weights(model), w0)  # redrawn from the seed
    X, y = data.splits["train"].tensors
    for _ in range(5):  # any SGD step on the training data leaves that part where it was
        optimizer = model.make_optimizer()
        model.loss(model(X), y).backward()
        optimizer.step()
    w = model.weights()[0]
    assert not torch.allclose(w, w0)
    torch.testing.assert_close(unseen_part(w, X), unseen_part(w0, X), rtol=1e-4, atol=1e-5)
    assert unseen_part(w0, X).norm() < w0.norm()  # 180 of 200 directions: ≈ 0.95 of it


def test_ridge_has_an_interior_optimum_on_validation_confirmed_on_test():
    # The study's n=150 setup, 5 draws, as the study chooses: the lowest mean val loss.
    lambdas = [0, 0.01, 0.1, 0.3, 1, 3, 10]
    val, test = {lam: [] for lam in lambdas}, {lam: [] for lam in lambdas}
    for k in range(5):
        data = HighDimensionalData(num_train=150, noise=0.1, num_val=1000, num_test=1000,
                                   batch_size=150, seed=seed_of(0, k))
        data.setup()
        for lam in lambdas:
            model = LeastSquares(num_inputs=200, bias=True, weight_decay=lam)
            model.fit(*data.splits["train"].tensors)
            for scores, split in ((val, "val"), (test, "test")):
                X, y = data.splits[split].tensors
                scores[lam].append(model.loss(model(X), y).item())
    chosen = min(lambdas, key=lambda lam: statistics.fmean(val[lam]))
    assert chosen not in (lambdas[0], lambdas[-1])
    for end in (lambdas[0], lambdas[-1]):
        mean, se = mean_se([a - b for a, b in zip(test[end], test[chosen], strict=True)])
        assert mean > 2 * se and mean > 0


def seeds_of(member: str, w_norms: list[float], val_losses: list[float]) -> list[dict]:
    return [{"member": f"{member},seed={s}", "status": "completed", "epochs": 100,
             "seconds": 1.0, "metrics": {"w_norm": w, "val/loss": v}}
            for s, (w, v) in enumerate(zip(w_norms, val_losses, strict=True))]


def test_adamws_difference_is_explained_only_beyond_two_standard_errors():
    study = WeightDecay(roles={"ways": ["wd=3", "adamw"]})
    # The case: AdamW 0.0801 ± 0.0061 against the penalty's 0.0904 ± 0.014, the
    # same ‖w‖: paired differences −0.02, +0.01, −0.03, 0.0, −0.01 (mean −0.01, se 0.007).
    penalty = seeds_of("wd=3", [0.36] * 5, [0.09, 0.07, 0.11, 0.08, 0.10])
    within = seeds_of("adamw", [0.36] * 5, [0.07, 0.08, 0.08, 0.08, 0.09])
    note = study.ways_note(aggregate.merge_seeds(penalty + within), 3)
    assert "within noise" in note and "Adam's steps" not in note
    # AdamW below the penalty by 0.02 ± 0.001 in every draw: apart, and explained.
    apart = seeds_of("adamw", [0.36] * 5, [0.07, 0.049, 0.091, 0.06, 0.081])
    note = study.ways_note(aggregate.merge_seeds(penalty + apart), 3)
    assert "Their numbers differ" in note and "Adam's steps" in note


def test_a_member_renamed_in_the_sweeps_but_not_in_the_roles_is_refused_by_name(tmp_path,
                                                                                 capsys):
    # The book's sweep renamed (sgd,wd=0 ...): the roles still name wd=0 and wd=3, so the
    # plan is refused, naming them, before anything runs (not a takeaway that says nothing).
    sweeps = registry.load("weight_decay").defaults["study"]["init_args"]["sweeps"]
    sweeps = [{**sweeps[0], "prefix": "sgd,"}, *sweeps[1:]]
    code = cli.main(["weight_decay", "--study.sweeps", json.dumps(sweeps),
                     "--logdir", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "--study.roles.book_gap: wd=0, wd=3 is not a member" in err
    assert not (tmp_path / "runs").exists()


def test_a_sweeps_role_is_one_the_study_draws():
    with pytest.raises(ValueError, match="role 'books' is unknown or repeated"):
        WeightDecay(sweeps=[{"prefix": "", "lambdas": [0], "role": "books"}])
