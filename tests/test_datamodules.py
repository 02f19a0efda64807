"""Tests for datamodules/: real Fashion-MNIST (Debian's copy), synthetic data, batching."""

import gzip
import multiprocessing
import os
import shutil

import lightning as L
import pytest
import torch
from torchvision.datasets import FashionMNIST

from datamodules import (
    CorruptDataError,
    DataUnavailableError,
    EpochBatches,
    FashionMNISTDataModule,
    LinearRegressionData,
    PolynomialData,
    TensorSplit,
)
from datamodules import fashion_mnist_files as files


@pytest.fixture(autouse=True)
def no_download(monkeypatch):
    """Tests never touch the network: torchvision's download fails as if offline."""
    def offline(self):
        raise RuntimeError("offline (tests never download)")
    monkeypatch.setattr(FashionMNIST, "download", offline)


@pytest.fixture(scope="session")
def fashion(fashion_dir):
    dm = FashionMNISTDataModule(data_dir=str(fashion_dir))
    dm.setup()
    return dm


def copy_of_raw(fashion_dir, tmp_path):
    """A private data_dir with the verified files, to damage without harming the shared one."""
    shutil.copytree(files.raw_folder(fashion_dir), files.raw_folder(tmp_path))
    return files.raw_folder(tmp_path)


# --- Fashion-MNIST -----------------------------------------------------------------------

def test_fashion_mnist_shapes_dtypes_and_sizes(fashion):
    sizes = {name: len(split) for name, split in fashion.splits.items()}
    # train_eval: the training images train/* is scored on, a subset as large as val.
    assert sizes == {"train": 50000, "val": 10000, "test": 10000, "train_eval": 10000}
    for split in fashion.splits.values():
        X, y = split.tensors
        assert X.shape[1:] == (1, 28, 28) and X.dtype == torch.float32
        assert 0 <= X.min() and X.max() <= 1 and X.max() > 0.99
        assert y.dtype == torch.int64 and set(y.unique().tolist()) == set(range(10))
    assert len(fashion.classes) == fashion.num_classes == 10
    assert fashion.classes[9] == "Ankle boot"
    assert fashion.num_inputs == 784 and fashion.has_test


def test_fashion_mnist_batches(fashion):
    batches = list(fashion.train_dataloader())
    assert len(batches) == 196  # 195 full batches of 256 and one of 80
    X, y = batches[0]
    assert X.shape == (256, 1, 28, 28) and y.shape == (256,)
    assert len(batches[-1][0]) == 50000 - 195 * 256
    val, train_eval = fashion.val_dataloader()
    assert sum(len(y) for _, y in val) == sum(len(y) for _, y in train_eval) == 10000


def test_train_and_val_are_disjoint(fashion):
    train, val = fashion.source_indices["train"], fashion.source_indices["val"]
    assert len(set(train.tolist()) | set(val.tolist())) == 60000


def test_labels_are_balanced(fashion):
    share = torch.bincount(fashion.splits["train"].tensors[1], minlength=10) / 50000
    assert ((share - 0.1).abs() < 0.02).all(), share


def test_same_seed_same_split_and_train_size_subset(fashion, fashion_dir):
    small = FashionMNISTDataModule(data_dir=str(fashion_dir), train_size=1000)
    small.setup()
    assert len(small.splits["train"]) == 1000 and len(small.splits["val"]) == 10000
    assert torch.equal(small.source_indices["val"], fashion.source_indices["val"])
    train = set(fashion.source_indices["train"].tolist())
    assert set(small.source_indices["train"].tolist()) <= train
    other = FashionMNISTDataModule(data_dir=str(fashion_dir), seed=1, val_size=100)
    other.setup()
    assert not torch.equal(other.source_indices["val"], fashion.source_indices["val"][:100])


def test_resize_averages_blocks_of_pixels(fashion_dir):
    def module(**kwargs):
        dm = FashionMNISTDataModule(data_dir=str(fashion_dir), val_size=100, train_size=100,
                                    **kwargs)
        dm.setup()
        return dm
    full, small = module(), module(resize=7)
    assert small.num_inputs == 49 and full.num_inputs == 784
    for name in ("train", "val", "test"):
        X, y = small.splits[name].tensors
        assert X.shape[1:] == (1, 7, 7) and X.dtype == torch.float32
        blocks = full.splits[name].tensors[0].reshape(-1, 1, 7, 4, 7, 4).mean(dim=(3, 5))
        assert torch.allclose(X, blocks, atol=1e-6)  # each pixel the mean of a 4x4 block
        assert torch.equal(y, full.splits[name].tensors[1])


@pytest.mark.parametrize("label_noise", [0.2, 1.0])
def test_label_noise_makes_that_fraction_of_train_labels_wrong(fashion_dir, label_noise):
    def module(**kwargs):
        dm = FashionMNISTDataModule(data_dir=str(fashion_dir), val_size=2000, train_size=1000,
                                    **kwargs)
        dm.setup()
        return dm
    clean, noisy = module(), module(label_noise=label_noise)
    assert torch.equal(noisy.source_indices["train"], clean.source_indices["train"])
    y_clean, y_noisy = clean.splits["train"].tensors[1], noisy.splits["train"].tensors[1]
    assert (y_noisy != y_clean).sum() == round(label_noise * 1000)  # wrong, never the truth
    assert set(y_noisy.unique().tolist()) == set(range(10))
    assert torch.equal(noisy.splits["train_eval"].tensors[1], y_noisy)  # train/* scores these
    for name in ("val", "test"):  # held out and test keep the true labels
        for a, b in zip(noisy.splits[name].tensors, clean.splits[name].tensors, strict=True):
            assert torch.equal(a, b)
    assert torch.equal(module(label_noise=label_noise).splits["train"].tensors[1], y_noisy)
    other_seed = FashionMNISTDataModule(label_noise=label_noise, seed=1).noisy(y_clean)
    assert (other_seed != y_clean).sum() == round(label_noise * 1000)
    assert not torch.equal(other_seed, y_noisy)  # another seed, other wrong labels


def test_truncated_file_is_corrupt(fashion_dir, tmp_path):
    raw = copy_of_raw(fashion_dir, tmp_path)
    with open(raw / "train-images-idx3-ubyte", "r+b") as f:
        f.truncate(1000)
    with pytest.raises(CorruptDataError, match="train-images-idx3-ubyte") as error:
        FashionMNISTDataModule(data_dir=str(tmp_path)).prepare_data()
    assert "47040016" in str(error.value) and "found 1000 bytes" in str(error.value)
    assert "Delete it and run again" in str(error.value)


def test_altered_byte_is_corrupt(fashion_dir, tmp_path):
    raw = copy_of_raw(fashion_dir, tmp_path)
    with open(raw / "t10k-labels-idx1-ubyte", "r+b") as f:
        f.seek(5000)
        byte = f.read(1)
        f.seek(5000)
        f.write(bytes([(byte[0] + 1) % 10]))
    dm = FashionMNISTDataModule(data_dir=str(tmp_path))
    with pytest.raises(CorruptDataError, match="t10k-labels-idx1-ubyte.*15d484375f8d13e6"):
        dm.prepare_data()
    with pytest.raises(CorruptDataError, match="t10k-labels-idx1-ubyte"):
        dm.setup()  # setup checks too, e.g. on ranks that did not prepare


def test_corrupt_system_copy_says_reinstall(fashion_dir, tmp_path, monkeypatch):
    system = tmp_path / "system"
    system.mkdir()
    images = (files.raw_folder(fashion_dir) / "train-images-idx3-ubyte").read_bytes()
    truncated = gzip.compress(images[:100_000])[:1000]  # an archive cut off mid-stream
    (system / "train-images-idx3-ubyte.gz").write_bytes(truncated)
    monkeypatch.setattr(files, "SYSTEM_DIR", system)
    with pytest.raises(CorruptDataError, match="train-images-idx3-ubyte.gz.*--reinstall"):
        files.prepare_raw_files(tmp_path / "data")
    assert os.listdir(files.raw_folder(tmp_path / "data")) == []  # nothing half-written


def test_gzip_damage_is_reported(tmp_path):
    raw = files.raw_folder(tmp_path)
    raw.mkdir(parents=True)
    (raw / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"not images"))
    with pytest.raises(CorruptDataError, match="train-images-idx3-ubyte.gz.*Delete it"):
        files.prepare_raw_files(tmp_path)


def test_no_source_names_the_places_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "SYSTEM_DIR", tmp_path / "not-installed")
    with pytest.raises(DataUnavailableError) as error:
        FashionMNISTDataModule(data_dir=str(tmp_path / "data")).prepare_data()
    message = str(error.value)
    for place in (str(files.raw_folder(tmp_path / "data")), str(tmp_path / "not-installed"),
                  "torchvision's download", "sudo apt-get install dataset-fashion-mnist"):
        assert place in message
    assert os.listdir(files.raw_folder(tmp_path / "data")) == []  # no download leftovers


def test_download_is_the_last_resort(fashion_dir, tmp_path, monkeypatch):
    def fake_download(self):  # what torchvision leaves behind: files in its raw folder
        shutil.copytree(files.raw_folder(fashion_dir), self.raw_folder)
    monkeypatch.setattr(FashionMNIST, "download", fake_download)
    monkeypatch.setattr(files, "SYSTEM_DIR", tmp_path / "not-installed")
    raw = files.prepare_raw_files(tmp_path / "data")
    assert sorted(os.listdir(raw)) == sorted(files.FILES)


@pytest.mark.slow  # compresses 55 MB: seconds
def test_gz_files_in_data_dir_are_used(fashion_dir, tmp_path, monkeypatch):
    raw = files.raw_folder(tmp_path)
    raw.mkdir(parents=True)
    for name in files.FILES:
        data = (files.raw_folder(fashion_dir) / name).read_bytes()
        (raw / f"{name}.gz").write_bytes(gzip.compress(data, compresslevel=1))
    monkeypatch.setattr(files, "SYSTEM_DIR", tmp_path / "not-installed")
    files.prepare_raw_files(tmp_path)
    assert sorted(os.listdir(raw)) == sorted([*files.FILES, *(f"{n}.gz" for n in files.FILES)])


def _prepare_after(barrier, data_dir):
    barrier.wait()
    files.prepare_raw_files(data_dir)


def test_concurrent_prepare_leaves_valid_files(fashion_dir, tmp_path):
    context = multiprocessing.get_context("fork")  # no re-import: both start at once
    barrier = context.Barrier(2)
    workers = [context.Process(target=_prepare_after, args=(barrier, tmp_path)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0, 0]
    raw = files.raw_folder(tmp_path)
    assert sorted(os.listdir(raw)) == sorted(files.FILES)  # no temporary files left
    for name in files.FILES:
        files.verified(raw / name)


# --- arguments ---------------------------------------------------------------------------

@pytest.mark.parametrize("make, name", [
    (lambda: FashionMNISTDataModule(batch_size=0), "batch_size must be >= 1, got 0"),
    (lambda: FashionMNISTDataModule(num_workers=-1), "num_workers must be >= 0"),
    (lambda: FashionMNISTDataModule(val_size=0), "val_size must be in \\[1, 59999\\]"),
    (lambda: FashionMNISTDataModule(val_size=60000), "smaller than the 60000 training images"),
    (lambda: FashionMNISTDataModule(train_size=0), "train_size must be in \\[1, 50000\\]"),
    (lambda: FashionMNISTDataModule(val_size=100, train_size=59901), "train_size .*59900"),
    (lambda: FashionMNISTDataModule(resize=0), "resize must be in \\[1, 28\\] \\(pixels a side"),
    (lambda: FashionMNISTDataModule(label_noise=1.5), "label_noise must be in \\[0.0, 1.0\\]"),
    (lambda: FashionMNISTDataModule(label_noise=-0.1), "fraction of wrong labels"),
    (lambda: LinearRegressionData(num_train=0), "num_train must be >= 1"),
    (lambda: LinearRegressionData(num_val=0), "num_val must be >= 1"),
    (lambda: LinearRegressionData(num_test=-1), "num_test must be >= 0"),
    (lambda: LinearRegressionData(noise=-0.1), "noise must be >= 0"),
    (lambda: LinearRegressionData(w=[]), "len\\(w\\) must be >= 1"),
    (lambda: LinearRegressionData(batch_size=0), "batch_size must be >= 1"),
    (lambda: EpochBatches(10, 0, shuffle=True), "batch_size must be >= 1"),
    (lambda: EpochBatches(-1, 1, shuffle=True), "num_samples must be >= 0"),
    (lambda: EpochBatches(10, 1, shuffle=True, rank=2, world_size=2), "rank must be in \\[0, 1\\]"),
])
def test_bad_arguments_name_the_argument(make, name):
    with pytest.raises(ValueError, match=name):
        make()


# --- batching ----------------------------------------------------------------------------

def epoch(sampler, number=0):
    sampler.set_epoch(number)
    return list(sampler)


@pytest.mark.parametrize("shuffle", [False, True])
def test_one_epoch_covers_every_index_once(shuffle):
    batches = epoch(EpochBatches(103, 10, shuffle=shuffle, rank=0, world_size=1))
    assert all(isinstance(b, torch.Tensor) and b.dtype == torch.int64 for b in batches)
    assert len(batches) == len(EpochBatches(103, 10, shuffle=shuffle)) == 11
    assert torch.equal(torch.cat(batches).sort().values, torch.arange(103))
    if not shuffle:
        assert torch.equal(torch.cat(batches), torch.arange(103))


def test_order_depends_on_seed_and_epoch_only():
    def order(seed, number):
        return torch.cat(epoch(EpochBatches(100, 10, shuffle=True, seed=seed), number))
    assert torch.equal(order(0, 3), order(0, 3))
    assert not torch.equal(order(0, 3), order(0, 4))
    assert not torch.equal(order(0, 3), order(1, 3))


@pytest.mark.parametrize("num_samples", [103, 1, 7])
def test_training_shards_are_equal_and_cover_everything(num_samples):
    shards = [EpochBatches(num_samples, 4, shuffle=True, rank=r, world_size=2) for r in (0, 1)]
    indices = [torch.cat(epoch(s, 5)) for s in shards]
    assert len(indices[0]) == len(indices[1]) == -(-num_samples // 2)  # equal steps per rank
    assert len(shards[0]) == len(shards[1]) == len(epoch(shards[0], 5))
    assert set(torch.cat(indices).tolist()) == set(range(num_samples))
    assert len(set(indices[0].tolist()) & set(indices[1].tolist())) <= num_samples % 2  # padding


@pytest.mark.parametrize("num_samples", [103, 1, 8])
def test_evaluation_shards_see_each_sample_exactly_once(num_samples):
    shards = [EpochBatches(num_samples, 4, shuffle=False, rank=r, world_size=2) for r in (0, 1)]
    indices = [torch.cat(epoch(s)) if len(s) else torch.empty(0, dtype=torch.int64)
               for s in shards]
    assert torch.equal(torch.cat(indices).sort().values, torch.arange(num_samples))
    assert [len(s) for s in shards] == [len(epoch(s)) for s in shards]


def test_tensor_split_gathers_batches():
    split = TensorSplit(torch.arange(10.0).reshape(5, 2), torch.arange(5))
    X, y = split.__getitems__([4, 0])
    assert torch.equal(y, torch.tensor([4, 0])) and torch.equal(X[0], torch.tensor([8.0, 9.0]))
    X, y = split.__getitems__(torch.tensor([1]))
    assert X.shape == (1, 2) and split[2][1] == 2 and len(split) == 5
    with pytest.raises(ValueError, match="differ in length"):
        TensorSplit(torch.zeros(3), torch.zeros(4))


def test_workers_give_the_same_batches():
    data = LinearRegressionData(num_train=50, num_val=20, batch_size=8)
    data.setup()
    in_process = list(data.train_dataloader())
    data.num_workers = 1
    with_worker = list(data.train_dataloader())
    assert all(torch.equal(a[0], b[0]) for a, b in zip(in_process, with_worker, strict=True))


class RecordOrder(L.LightningModule):
    """Records the first feature of every training example, epoch by epoch."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Linear(2, 1)
        self.seen: dict[int, list[torch.Tensor]] = {}

    def training_step(self, batch, batch_idx):
        X, y = batch
        self.seen.setdefault(self.current_epoch, []).append(X[:, 0])
        return torch.nn.functional.mse_loss(self.net(X), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def test_trainer_reshuffles_each_epoch_through_set_epoch():
    data = LinearRegressionData(num_train=40, num_val=10, batch_size=10)
    model = RecordOrder()
    trainer = L.Trainer(max_epochs=2, use_distributed_sampler=False, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0)
    trainer.fit(model, data)
    X = data.splits["train"].tensors[0][:, 0]
    for number in (0, 1):
        order = EpochBatches(40, 10, shuffle=True, seed=data.order_seed)
        expected = X[torch.cat(epoch(order, number))]
        assert torch.equal(torch.cat(model.seen[number]), expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_splits_move_to_the_gpu_once():
    data = LinearRegressionData(batch_size=10)
    data.trainer = L.Trainer(accelerator="gpu", devices=1, logger=False)
    data.setup()
    X, y = next(iter(data.train_dataloader()))
    assert X.is_cuda and y.is_cuda and data.splits["val"].device.type == "cuda"


# --- synthetic data ----------------------------------------------------------------------

def test_linear_regression_data_shapes_and_seed():
    def made(**kwargs):
        data = LinearRegressionData(**kwargs)
        data.setup()
        return data
    data = made(num_test=30)
    X, y = data.splits["train"].tensors
    assert X.shape == (1000, 2) and y.shape == (1000, 1) and data.num_inputs == 2
    assert data.has_test and len(data.splits["test"]) == 30
    assert torch.equal(made(num_test=30).splits["val"].tensors[1], data.splits["val"].tensors[1])
    assert not torch.equal(made(seed=1).splits["train"].tensors[0], X)
    assert not made().has_test and "test" not in made().splits
    with pytest.raises(RuntimeError, match="has_test"):
        made().test_dataloader()


def test_least_squares_recovers_w_and_b():
    data = LinearRegressionData()
    data.setup()
    X, y = data.splits["train"].tensors
    solution = torch.linalg.lstsq(torch.cat([X, torch.ones(len(X), 1)], dim=1), y).solution
    w, b = solution[:-1, 0], solution[-1, 0]
    assert (w - data.true_w).abs().max() < 0.01 and abs(b - data.true_b) < 0.01


@pytest.mark.parametrize("make", [
    lambda: LinearRegressionData(noise=0.1, num_test=1000),
    lambda: PolynomialData(degree=3, noise=0.1, num_train=1000, num_val=1000, num_test=1000),
])
def test_every_split_is_drawn_from_the_same_truth(make):
    """A least-squares fit to the training split alone predicts val and test to the noise
    (σ = 0.1): their targets come from the same weights."""
    data = make()
    data.setup()
    def design(X):
        return torch.cat([X, torch.ones(len(X), 1)], dim=1)
    X, y = data.splits["train"].tensors
    solution = torch.linalg.lstsq(design(X), y).solution
    for split in ("val", "test"):
        X_eval, y_eval = data.splits[split].tensors
        residual = y_eval - design(X_eval) @ solution
        assert 0.09 < residual.std().item() < 0.11, split
