"""StackedMembers (members/stacked.py, with members/layers.py's forward) against the
one-by-one path: the same members trained as one group end with the same weights and
metrics, whatever they differ in (seed, data, fold, λ and how it acts, activation,
dropout rate), a diverging member frozen, a resumed group as an uninterrupted one."""

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from member_runs import (
    POLYNOMIAL,
    RTOL,
    TRAINER,
    assert_same,
    build,
    fashion_members,
    one_by_one,
    polynomial_members,
    stacked,
)

from datamodules import FashionMNISTDataModule, XORPoints
from experiments.engine.learning import FirstTrainLoss
from members.data import StackedData
from members.stacked import StackedMembers
from modules import MLP, DivergedError, SoftmaxRegression


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


def dropout_members(style: str) -> list:
    return [build(seed, MLP, dict(num_inputs=2, num_outputs=2, num_hiddens=[8],
                                  dropout=0.5, style=style),
                  XORPoints, dict(num_train=40, batch_size=10)) for seed in range(2)]


def test_dropout_is_on_in_every_training_step_and_off_in_every_evaluation():
    members = dropout_members("concise")
    group = StackedMembers([model for model, _ in members])
    modes = []  # (the trainer is training, the template net is in train mode) per forward
    group.register_forward_hook(lambda module, args, out: modes.append(
        (group.trainer.training, members[0][0].net.training)))
    L.Trainer(**TRAINER, max_epochs=3).fit(group, datamodule=StackedData(
        [data for _, data in members]))
    assert {mode for mode in modes} == {(True, True), (False, False)}


def test_nets_with_dropout_that_only_vmap_can_run_train_one_by_one():
    # Under vmap every member's masks would come from one stream, not each its own run's:
    # the book's scratch dropout (a function of the forward) is refused, so the engine
    # trains those members one by one, each with its own masks.
    with pytest.raises(ValueError, match="dropout stack only as torch.nn layers"):
        StackedMembers([model for model, _ in dropout_members("scratch")])


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


def test_a_group_resumed_from_its_checkpoint_ends_as_the_uninterrupted_group(tmp_path):
    # Momentum buffers, per-member lr and λ, the cosine schedule and each member's first
    # train/loss all carry over in the group's checkpoint (what groups.run_group resumes).
    variants = [{"seed": s, "model": {"lr": lr, "momentum": 0.9, "weight_decay": wd,
                                      "schedule": "cosine"}}
                for s, lr, wd in [(0, 0.1, 0.0), (1, 0.03, 1e-3), (2, 0.01, 1e-2)]]
    whole = stacked(fashion_members(variants), max_epochs=4)

    def group_and_data():
        members = fashion_members(variants)
        return (StackedMembers([m for m, _ in members]),
                StackedData([d for _, d in members]))

    class Killed(L.Callback):
        def on_train_epoch_start(self, trainer, pl_module) -> None:
            if trainer.current_epoch == 2:
                raise KeyError("killed before epoch 3")

    class Epochs(L.Callback):
        trained: list[int] = []

        def on_train_epoch_start(self, trainer, pl_module) -> None:
            self.trained.append(trainer.current_epoch + 1)

    group, data = group_and_data()
    saves = ModelCheckpoint(dirpath=tmp_path, save_last=True)  # every epoch, as the engine
    trainer = L.Trainer(**{**TRAINER, "enable_checkpointing": True}, max_epochs=4,
                        callbacks=[saves, Killed()])
    with pytest.raises(KeyError):
        trainer.fit(group, datamodule=data)
    resumed, data = group_and_data()
    L.Trainer(**TRAINER, max_epochs=4, callbacks=[Epochs()]).fit(
        resumed, datamodule=data, ckpt_path=tmp_path / "last.ckpt", weights_only=True)
    assert Epochs.trained == [3, 4]  # on from the checkpoint, not afresh
    for key, value in whole.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key
    for tag, values in whole.epoch_metrics.items():
        assert torch.equal(resumed.epoch_metrics[tag], values), tag
    assert torch.equal(resumed.first_train_loss, whole.first_train_loss)


def test_each_members_first_train_loss_is_its_one_by_one_runs(tmp_path):
    # What learning.not_learning compares a member's final train/loss with.
    variants = [{"seed": 0}, {"seed": 1, "model": {"lr": 0.05}}, {"seed": 2, "data": {"seed": 2}}]
    group = stacked(polynomial_members(variants), max_epochs=3)
    for k, (model, data) in enumerate(polynomial_members(variants)):
        first = FirstTrainLoss()
        L.Trainer(**TRAINER, max_epochs=3, callbacks=[first]).fit(model, datamodule=data)
        assert group.first_train_loss[k].item() == pytest.approx(first.loss, rel=RTOL)


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
