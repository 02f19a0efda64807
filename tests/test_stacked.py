"""Stacked members (members/stacked.py, members/data.py) against the one-by-one path:
the same members trained as one group end with the same weights and metrics."""

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import EarlyStopping

from datamodules import FashionMNISTDataModule, PolynomialData, XORPoints
from datamodules.batching import EpochBatches
from members.closed_form import ClosedFormGroup
from members.data import StackedBatches, StackedData
from members.stacked import StackedMembers
from modules import MLP, DivergedError, LeastSquares, LinearRegression, SoftmaxRegression

TRAINER = dict(logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False, use_distributed_sampler=False,
               num_sanity_val_steps=0)
RTOL = 1e-4


def build(seed: int, model_class, model_args: dict, data_class, data_args: dict):
    """A member as Plan.instantiate builds it: seeded first, then model and data."""
    L.seed_everything(seed, verbose=False)
    return model_class(**model_args), data_class(**data_args)


def one_by_one(members, **trainer_args) -> list[dict]:
    """Each member trained by its own Trainer: its logged metrics and its weights."""
    results = []
    for model, data in members:
        trainer = L.Trainer(**TRAINER, **trainer_args)
        trainer.fit(model, datamodule=data)
        results.append({"metrics": dict(trainer.callback_metrics), "model": model,
                        "data": data})
    return results


def stacked(members, **trainer_args) -> StackedMembers:
    group = StackedMembers([model for model, _ in members])
    data = StackedData([data for _, data in members])
    L.Trainer(**TRAINER, **trainer_args).fit(group, datamodule=data)
    return group


def train_split_metrics(model, data) -> dict[str, float]:
    """The plain model scored in eval mode on the training examples `train/*` is over."""
    X, y = data.splits["train_eval"].tensors
    with torch.no_grad():
        y_hat = model.eval()(X)
        metrics = {"train/loss": model.loss(y_hat, y).item()}
        if y_hat.ndim == 2 and y_hat.shape[1] > 1:
            metrics["train/acc"] = (y_hat.argmax(1) == y).float().mean().item()
    return metrics


def assert_same(group: StackedMembers, references: list[dict],
                members: list[int] | None = None) -> None:
    """Group members `members` (default: all, in order) against their one-by-one runs."""
    for k, ref in zip(members or range(len(references)), references, strict=True):
        plain = ref["model"]
        member = group.member_state_dict(k)
        for name, value in plain.state_dict().items():
            torch.testing.assert_close(member[name], value, rtol=RTOL, atol=1e-6)
        logged = ref["metrics"]
        for tag in ("loss", "acc") if group.classifier else ("loss",):
            running = f"train_running/{tag}"
            assert group.epoch_metrics[running][k].item() == pytest.approx(
                logged[running].item(), rel=RTOL)
            assert group.epoch_metrics[f"val/{tag}"][k].item() == pytest.approx(
                logged[f"val/{tag}"].item(), rel=RTOL)
        ref["data"].setup()
        for tag, value in train_split_metrics(plain, ref["data"]).items():
            assert group.epoch_metrics[tag][k].item() == pytest.approx(value, rel=RTOL)


def polynomial_members(variants: list[dict]) -> list:
    members = []
    for variant in variants:
        model_args = dict(num_inputs=4, bias=False, lr=0.02)
        model_args.update(variant.get("model", {}))
        data_args = dict(degree=3, batch_size=10, num_train=100, num_val=100)
        data_args.update(variant.get("data", {}))
        members.append(build(variant.get("seed", 0), LinearRegression, model_args,
                             PolynomialData, data_args))
    return members


POLYNOMIAL = [
    {"seed": 0},
    {"seed": 1},
    {"seed": 2, "data": {"seed": 2}},  # its own data and batch order
    {"seed": 0, "model": {"weight_decay": 0.3}},
    {"seed": 0, "model": {"weight_decay": 0.3, "decay": "penalty"}},
    {"seed": 3, "model": {"lr": 0.05, "weight_decay": 0.1}},
]


def test_polynomial_members_differing_in_seed_and_weight_decay_match_one_by_one():
    args = dict(max_epochs=12, check_val_every_n_epoch=4)
    group = stacked(polynomial_members(POLYNOMIAL), **args)
    assert_same(group, one_by_one(polynomial_members(POLYNOMIAL), **args))


def test_scratch_members_run_their_own_forward_under_vmap_and_match_one_by_one():
    scratch = [{**v, "model": {**v.get("model", {}), "style": "scratch"}} for v in POLYNOMIAL]
    args = dict(max_epochs=6, check_val_every_n_epoch=3)
    group = stacked(polynomial_members(scratch), **args)
    assert group.layers is None  # LinearScratch has no member-dim form: vmap runs it
    assert_same(group, one_by_one(polynomial_members(scratch), **args))


def test_scratch_mlps_train_every_layer_under_vmap_and_match_one_by_one():
    # The book's scratch MLP keeps its weights in ParameterLists: under functional_call each
    # hidden layer's weights must be the group's, or only the output layer would learn.
    def members():
        return [build(seed, MLP, dict(num_inputs=2, num_outputs=2, num_hiddens=[8, 8], lr=0.5,
                                      sigma=0.5, style="scratch"),
                      XORPoints, dict(num_train=80, batch_size=10)) for seed in (0, 1, 2)]

    group = stacked(members(), max_epochs=4)
    assert group.layers is None
    assert_same(group, one_by_one(members(), max_epochs=4))


def test_kfold_members_differing_in_fold_match_one_by_one():
    folds = [{"data": {"fold": k, "num_folds": 5}} for k in range(5)]
    args = dict(max_epochs=8, check_val_every_n_epoch=4)
    group = stacked(polynomial_members(folds), **args)
    assert_same(group, one_by_one(polynomial_members(folds), **args))


def test_seeds_of_softmax_regression_on_fashion_mnist_match_one_by_one():
    def members():
        return [build(seed, SoftmaxRegression, dict(lr=0.1),
                      FashionMNISTDataModule, dict(batch_size=64, train_size=512, val_size=256))
                for seed in range(3)]

    group = stacked(members(), max_epochs=2)
    assert group.epoch_metrics["val/acc"].shape == (3,)
    assert_same(group, one_by_one(members(), max_epochs=2))


def fashion_members(variants: list[dict]) -> list:
    data_args = dict(batch_size=64, train_size=512, val_size=256)
    return [build(v.get("seed", 0), SoftmaxRegression, {"lr": 0.1, **v.get("model", {})},
                  FashionMNISTDataModule, data_args) for v in variants]


def test_momentum_and_cosine_schedule_with_per_member_lr_match_one_by_one():
    variants = [{"seed": s, "model": {"lr": lr, "weight_decay": wd, "momentum": 0.9,
                                      "schedule": "cosine"}}
                for s, lr, wd in [(0, 0.1, 0.0), (1, 0.03, 1e-3), (2, 0.01, 1e-2)]]
    group = stacked(fashion_members(variants), max_epochs=3)
    assert_same(group, one_by_one(fashion_members(variants), max_epochs=3))


def test_mlps_differing_in_activation_match_one_by_one():
    # One dataset and order for all three: the shared-input path (one wide matmul), then
    # each member's own activation on its own rows.
    def members(style: str = "concise"):
        return [build(0, MLP, dict(num_inputs=2, num_outputs=2, num_hiddens=[8, 8], lr=0.5,
                                   activation=activation, style=style),
                      XORPoints, dict(num_train=80, batch_size=10))
                for activation in ("relu", "sigmoid", "tanh")]

    group = stacked(members(), max_epochs=5)
    assert_same(group, one_by_one(members(), max_epochs=5))
    with pytest.raises(ValueError, match="activation"):  # vmap runs one net for all
        StackedMembers([model for model, _ in members("scratch")])


def test_mlps_differing_in_dropout_rate_match_one_by_one():
    # Each member draws its masks from a stream of its own, seeded as its run alone: the
    # same masks, so the same numbers (rates 0, 0.2, 0.5 after both hidden layers, 2 seeds).
    def members(style: str = "concise"):
        return [build(seed, MLP, dict(num_inputs=2, num_outputs=2, num_hiddens=[8, 8], lr=0.5,
                                      dropout=rate, style=style),
                      XORPoints, dict(num_train=80, batch_size=10))
                for rate in (0.0, 0.2, 0.5) for seed in (0, 1)]

    group = stacked(members(), max_epochs=5)
    assert_same(group, one_by_one(members(), max_epochs=5))
    with pytest.raises(ValueError, match="dropout"):  # vmap runs one net, one rate, for all
        StackedMembers([model for model, _ in members("scratch")])


def test_a_diverging_member_is_frozen_while_the_others_match_one_by_one():
    variants = [{"seed": 0}, {"seed": 1, "model": {"lr": 4.0}}, {"seed": 2}]
    group = stacked(polynomial_members(variants), max_epochs=6)
    diverged = group.diverged_epoch.tolist()
    assert diverged[0] == diverged[2] == 0 and diverged[1] > 1
    assert group.active.tolist() == [True, False, True]
    references = []
    for k, (model, data) in enumerate(polynomial_members(variants)):
        trainer = L.Trainer(**TRAINER, max_epochs=6)
        if k == 1:
            with pytest.raises(DivergedError) as error:
                trainer.fit(model, datamodule=data)
            assert error.value.epoch == diverged[1]
            # Frozen at the step whose loss was not finite: the weights that gave it.
            torch.testing.assert_close(group.member_state_dict(1)["net.weight"],
                                       model.net.weight.detach(), rtol=RTOL, atol=0)
            assert group.epoch_metrics["val/loss"][1].item() == pytest.approx(
                trainer.callback_metrics["val/loss"].item(), rel=RTOL)
        else:
            trainer.fit(model, datamodule=data)
            references.append({"metrics": dict(trainer.callback_metrics), "model": model,
                               "data": data})
    assert_same(group, references, members=[0, 2])


def test_early_stopping_stops_each_member_where_its_one_by_one_run_stops():
    # Improvements below min_delta do not count: the seeds' own data and starts run out of
    # patience at different epochs.
    variants = [{"seed": s, "data": {"seed": s}} for s in range(3)]
    args = dict(max_epochs=40, check_val_every_n_epoch=2)

    def early_stopping():
        return EarlyStopping(monitor="val/loss", patience=2, min_delta=0.1)

    group = StackedMembers([model for model, _ in polynomial_members(variants)],
                           early_stopping=early_stopping())
    trainer = L.Trainer(**TRAINER, **args)
    trainer.fit(group, datamodule=StackedData([data for _, data in polynomial_members(variants)]))
    references = []
    for model, data in polynomial_members(variants):
        alone = L.Trainer(**TRAINER, **args, callbacks=[early_stopping()])
        alone.fit(model, datamodule=data)
        references.append({"metrics": dict(alone.callback_metrics), "model": model,
                           "data": data, "epochs": alone.current_epoch})
    epochs = [group.member_epochs(k) for k in range(len(variants))]
    assert epochs == [ref["epochs"] for ref in references]
    assert len(set(epochs)) > 1 and max(epochs) < 40  # they stop, and not together
    assert group.divergence(0) is None
    assert_same(group, references)


@pytest.mark.parametrize("style", ["concise", "scratch"])  # layers path, vmap path
def test_dropout_is_on_in_every_training_step_and_off_in_every_evaluation(style):
    members = [build(seed, MLP, dict(num_inputs=2, num_outputs=2, num_hiddens=[8],
                                     dropout=0.5, style=style),
                     XORPoints, dict(num_train=40, batch_size=10)) for seed in range(2)]
    group = StackedMembers([model for model, _ in members])
    modes = []  # (the trainer is training, the template net is in train mode) per forward
    group.register_forward_hook(lambda module, args, out: modes.append(
        (group.trainer.training, members[0][0].net.training)))
    L.Trainer(**TRAINER, max_epochs=3).fit(group, datamodule=StackedData(
        [data for _, data in members]))
    assert {mode for mode in modes} == {(True, True), (False, False)}


def test_a_member_state_dict_loads_into_the_plain_module_with_weights_only(tmp_path):
    members = fashion_members([{"seed": 0}, {"seed": 1}])
    group = stacked(members, max_epochs=1)
    path = tmp_path / "member.pt"
    torch.save(group.member_state_dict(1), path)
    L.seed_everything(7, verbose=False)
    plain = SoftmaxRegression(lr=0.1)  # another init, overwritten by the load
    plain.load_state_dict(torch.load(path, weights_only=True))
    X = group.trainer.datamodule.splits["val"].tensors[0]  # (1, N, 1, 28, 28), shared
    with torch.no_grad():
        torch.testing.assert_close(plain.eval()(X[0]), group.eval()(X)[1])


def test_a_group_split_into_plain_states_and_merged_again_resumes_exactly(tmp_path):
    variants = [{"seed": s, "model": {"lr": lr, "momentum": 0.9, "weight_decay": wd}}
                for s, lr, wd in [(0, 0.01, 0.0), (1, 0.02, 0.1), (2, 0.005, 0.3)]]
    whole = stacked(polynomial_members(variants), max_epochs=4)

    members = polynomial_members(variants)
    group, data = StackedMembers([m for m, _ in members]), StackedData([d for _, d in members])
    trainer = L.Trainer(**TRAINER, max_epochs=2)
    trainer.fit(group, datamodule=data)
    path = tmp_path / "group.ckpt"
    trainer.save_checkpoint(path)
    # Split: each member's weights and momentum, in its plain module's own formats.
    states = [group.member_state_dict(k) for k in range(3)]
    optimizer_states = [group.member_optimizer_state(k, trainer.optimizers[0]) for k in range(3)]
    for k, state in enumerate(optimizer_states):
        plain_optimizer = group.member(k).make_optimizer()
        plain_optimizer.load_state_dict(state)
        assert plain_optimizer.param_groups[0]["lr"] == variants[k]["model"]["lr"]

    # Merge into a group built afresh (other seeds: other initial weights, overwritten).
    fresh = polynomial_members([{**v, "seed": v["seed"] + 10} for v in variants])
    merged = StackedMembers([m for m, _ in fresh])
    merged.load_member_state_dicts(states)
    merged_optimizer = merged.configure_optimizers()
    merged_optimizer.load_member_state_dicts(optimizer_states)
    checkpoint = torch.load(path, weights_only=True)
    for key, value in checkpoint["state_dict"].items():
        assert torch.equal(merged.state_dict()[key], value), key
    checkpoint["state_dict"] = merged.state_dict()
    checkpoint["optimizer_states"] = [merged_optimizer.state_dict()]
    torch.save(checkpoint, path)

    # The data as the members' own runs draw it (their batch order follows their seed).
    data = StackedData([d for _, d in polynomial_members(variants)])
    L.Trainer(**TRAINER, max_epochs=4).fit(
        merged, datamodule=data, ckpt_path=path, weights_only=True)
    for key, value in whole.state_dict().items():
        assert torch.equal(merged.state_dict()[key], value), key


def test_each_member_logs_its_epochs_to_its_own_logger(tmp_path):
    from conftest import scalars
    from lightning.pytorch.loggers import TensorBoardLogger

    variants = [{"seed": 0}, {"seed": 1, "model": {"weight_decay": 0.1}}]
    members = polynomial_members(variants)
    loggers = [TensorBoardLogger(tmp_path, name="polynomial", version=f"member{k}")
               for k in range(2)]
    group = StackedMembers([m for m, _ in members])
    trainer_args = {**TRAINER, "logger": loggers}
    L.Trainer(**trainer_args, max_epochs=4, check_val_every_n_epoch=2).fit(
        group, datamodule=StackedData([d for _, d in members]))
    for k in range(2):
        logged = scalars(tmp_path / "polynomial" / f"member{k}")
        assert [step for step, _ in logged["train_running/loss"]] == [1, 2, 3, 4]
        assert [step for step, _ in logged["val/loss"]] == [2, 4]
        assert [step for step, _ in logged["train/loss"]] == [2, 4]
        assert logged["val/loss"][-1][1] == pytest.approx(group.epoch_metrics["val/loss"][k])


@pytest.mark.parametrize("num_samples", [25, 5])  # 5: each rank has less than one batch
def test_stacked_batches_shard_each_members_order_by_rank(num_samples):
    def orders(rank: int) -> list:
        members = [EpochBatches(num_samples, 4, shuffle=True, seed=s, rank=rank, world_size=2)
                   for s in (0, 1, 2)]
        return members, list(StackedBatches(members, steps=2))

    for rank in (0, 1):
        members, batches = orders(rank)
        assert len(batches) == len(StackedBatches(members, steps=2))
        # Row k of the (S, K, B) batches, in order, is member k's own EpochBatches order.
        for k, member in enumerate(members):
            got = torch.cat([b[:, k].flatten() for b in batches])
            assert torch.equal(got, torch.cat(list(member)))
    covered = torch.cat([torch.cat([b[:, 0].flatten() for b in orders(r)[1]]) for r in (0, 1)])
    assert set(covered.tolist()) == set(range(num_samples))  # every one, padded by wrapping


@pytest.mark.slow  # a subprocess run (or two processes): tens of seconds
def test_under_ddp_a_group_trains_like_one_process_with_the_same_samples_per_step(tmp_path):
    """2 processes with batch 5 each see, step by step, the 10 samples one process with
    batch 10 sees (every member's EpochBatches deals its permutation out to the ranks)."""
    import subprocess
    import sys
    from pathlib import Path

    from stacked_ddp_run import main

    main(1, str(tmp_path / "1.pt"))
    script = Path(__file__).with_name("stacked_ddp_run.py")
    done = subprocess.run([sys.executable, str(script), "2", str(tmp_path / "2.pt")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = {n: torch.load(tmp_path / f"{n}.pt", weights_only=True) for n in (1, 2)}
    one, two = results[1], results[2]
    torch.testing.assert_close(two["all"], one["all"], rtol=1e-5, atol=1e-6)
    for tag in ("val/loss", "train/loss"):  # every sample counted once across the ranks
        torch.testing.assert_close(two[tag], one[tag], rtol=1e-5, atol=0)


def test_a_closed_form_group_refuses_a_training_split_of_several_batches():
    # 200 examples in batches of 100: alone, each member refuses; stacked, the two steps
    # would come in one batch, and solving on the first alone would be wrong.
    members = [build(seed, LeastSquares, dict(num_inputs=4),
                     PolynomialData, dict(degree=3, batch_size=100, num_train=200))
               for seed in range(2)]
    group = ClosedFormGroup([model for model, _ in members])
    with pytest.raises(ValueError, match="whole training split at once"):
        L.Trainer(**TRAINER, max_epochs=1).fit(
            group, datamodule=StackedData([data for _, data in members]))
