"""The adapters for one's own model and data: modules/wrapped.py and datamodules/wrapped.py."""

import io

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from datamodules import WrappedData
from modules import WrappedClassifier, WrappedRegressor

X = torch.arange(80.0).reshape(40, 2)
y = torch.arange(40) % 3


class Pairs(Dataset):
    """A map-style Dataset that is not a TensorDataset: one (X, y) example per index."""

    def __len__(self):
        return len(X)

    def __getitem__(self, i):
        return X[i], y[i]


class PairsModule(L.LightningDataModule):
    """A LightningDataModule of its own: train and val dataloaders."""

    def train_dataloader(self):
        return DataLoader(TensorDataset(X[:30], y[:30]), batch_size=7, shuffle=True)

    def val_dataloader(self):
        return DataLoader(TensorDataset(X[30:], y[30:]), batch_size=4)


class PairsModuleWithTest(PairsModule):
    def test_dataloader(self):
        return DataLoader(TensorDataset(X[:5], y[:5]), batch_size=2)


class Records(Pairs):
    """Examples as dicts, which fitlab's (X, y) batches are not."""

    def __getitem__(self, i):
        return {"X": X[i], "y": y[i]}


def rows(split) -> set[tuple]:
    X, y = split.tensors
    return {(*x.tolist(), int(label)) for x, label in zip(X, y, strict=True)}


def loaded(data: WrappedData) -> dict:
    data.setup()
    return data.splits


def test_a_dataset_is_held_out_by_val_size_with_the_seed_every_example_once():
    splits = loaded(WrappedData(TensorDataset(X, y), val_size=0.25, seed=1))
    assert (len(splits["train"]), len(splits["val"])) == (30, 10)
    everything = {(*x.tolist(), int(label)) for x, label in zip(X, y, strict=True)}
    assert rows(splits["train"]) | rows(splits["val"]) == everything
    assert not rows(splits["train"]) & rows(splits["val"])
    again = loaded(WrappedData(TensorDataset(X, y), val_size=0.25, seed=1))
    other = loaded(WrappedData(TensorDataset(X, y), val_size=0.25, seed=2))
    assert rows(again["val"]) == rows(splits["val"]) != rows(other["val"])
    assert "test" not in splits


def test_any_map_style_dataset_is_collated_once_into_the_same_tensors():
    data = WrappedData(Pairs(), val=Pairs(), test=TensorDataset(X[:4], y[:4]))
    assert data.has_test
    splits = loaded(data)
    assert torch.equal(splits["train"].tensors[0], X) and torch.equal(splits["val"].tensors[1], y)
    assert rows(splits["test"]) == rows(TensorDataset(X[:4], y[:4]))


@pytest.mark.parametrize("with_test", [False, True])
def test_a_lightning_datamodules_dataloaders_are_read_once_each_split_whole(with_test):
    data = WrappedData(PairsModuleWithTest() if with_test else PairsModule())
    assert data.has_test is with_test  # known before training: the runner asks first
    splits = loaded(data)
    assert rows(splits["train"]) == rows(TensorDataset(X[:30], y[:30]))  # shuffled, all there
    assert rows(splits["val"]) == rows(TensorDataset(X[30:], y[30:]))
    assert ("test" in splits) is with_test


def test_a_config_names_the_dataset_by_class_path_and_init_args():
    data = WrappedData({"class_path": "torch.utils.data.TensorDataset", "init_args": {}},
                       val=TensorDataset(X, y))
    assert isinstance(data.dataset, TensorDataset)


@pytest.mark.parametrize("make, says", [
    (lambda: WrappedData(object()), "dataset must be a torch Dataset or a LightningDataModule"),
    (lambda: WrappedData(TensorDataset(X, y), val_size=1.5), "val_size must be in [0, 1]"),
    (lambda: WrappedData(PairsModule(), test=TensorDataset(X, y)),
     "val and test come from the LightningDataModule's own dataloaders"),
])
def test_what_cannot_be_data_is_refused_at_construction_naming_the_setting(make, says):
    with pytest.raises(ValueError) as error:
        make()
    assert says in str(error.value)


@pytest.mark.parametrize("data, says", [
    (WrappedData(TensorDataset(X[:1], y[:1]), val_size=0.5), "both need at least one"),
    (WrappedData(TensorDataset(X, y), val=Records()), "fitlab needs (X, y) pairs"),
])
def test_data_that_cannot_be_split_or_batched_says_why_when_it_loads(data, says):
    with pytest.raises(ValueError) as error:
        data.setup()
    assert says in str(error.value)


class Net(nn.Module):
    def __init__(self, num_hiddens: int = 3):
        super().__init__()
        self.hidden, self.output = nn.Linear(2, num_hiddens), nn.Linear(num_hiddens, 3)

    def forward(self, X):
        return self.output(torch.relu(self.hidden(X)))


NET = {"class_path": f"{__name__}.Net", "init_args": {"num_hiddens": 5}}


def test_a_wrapped_network_is_built_from_its_class_path_after_the_seed():
    torch.manual_seed(0)
    model = WrappedClassifier(NET, num_outputs=3)
    torch.manual_seed(0)
    again = WrappedClassifier(NET, num_outputs=3)
    assert isinstance(model.net, Net) and model.net.hidden.out_features == 5
    assert torch.equal(model.net.hidden.weight, again.net.hidden.weight)  # same seed, same init
    assert torch.equal(model(X), model.net(X))
    # Cross-entropy of its logits, as torch computes it, and accuracy over 3 classes.
    assert torch.allclose(model.loss(model(X), y), nn.functional.cross_entropy(model.net(X), y))
    assert set(model.val_metrics) == {"loss", "acc"}
    # Its settings are plain values: a checkpoint of it loads with weights_only=True.
    buffer = io.BytesIO()
    torch.save({"hyper_parameters": dict(model.hparams)}, buffer)
    buffer.seek(0)
    assert torch.load(buffer, weights_only=True)["hyper_parameters"]["net"] == NET


class LitNet(L.LightningModule):
    """A LightningModule of one's own: as a wrapper's net, its forward is what trains."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(2, 3)

    def forward(self, X):
        return self.layer(X)

    def training_step(self, batch, batch_idx):
        raise AssertionError("fitlab trains the forward with its own loss")


def test_a_lightning_module_as_the_network_is_trained_by_its_forward(tmp_path):
    torch.manual_seed(0)
    model = WrappedClassifier({"class_path": f"{__name__}.LitNet"}, num_outputs=3, lr=0.5)
    inputs, halves = (X - 40) / 40, (torch.arange(40) >= 20).long()  # a line separates them
    data = WrappedData(TensorDataset(inputs, halves), val_size=0.5, batch_size=4)
    before = model.loss(model(inputs), halves).item()
    trainer = L.Trainer(max_epochs=5, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False,
                        use_distributed_sampler=False, default_root_dir=tmp_path)
    trainer.fit(model, datamodule=data)
    assert model.loss(model(inputs), halves).item() < before / 2
    assert set(trainer.callback_metrics) >= {"train/loss", "val/loss", "val/acc"}


def test_a_network_with_other_outputs_than_num_outputs_says_which_to_set():
    model = WrappedClassifier(NET, num_outputs=4)
    with pytest.raises(ValueError, match="net gives 3 outputs per example but num_outputs is 4: "
                                         "set --model.num_outputs 3"):
        model.loss(model(X), y)


def test_a_wrapped_regressor_scores_its_outputs_by_the_loss_named():
    linear = {"class_path": "torch.nn.Linear", "init_args": {"in_features": 2, "out_features": 1}}
    model = WrappedRegressor(linear, loss="l1")
    target = torch.zeros(40, 1)
    assert torch.allclose(model.loss(model(X), target), (model.net(X) - target).abs().mean())
    with pytest.raises(ValueError, match="net must be a torch.nn.Module"):
        WrappedRegressor({"class_path": "torch.utils.data.TensorDataset"})
