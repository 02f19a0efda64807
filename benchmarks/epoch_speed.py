"""Seconds per training epoch on Fashion-MNIST, three ways side by side in one process.

    book    torchvision's FashionMNIST(transform=ToTensor()) + DataLoader(batch_size=256,
            shuffle=True, num_workers=2) + a plain loop, as the book trains
    bare    the split as one float tensor, a randperm per epoch, slices, a plain loop:
            no framework, the practical limit on this machine
    fitlab  the project's DataModule and LightningModule under a Lightning Trainer, run
            exactly as `experiments/run.py` runs them (logging, checkpoints, progress bar)

for softmax regression and the 256-hidden MLP (batch 256, SGD lr 0.1), on the same 50000
training images. Each number is the median of --epochs epochs after one warm-up epoch;
fitlab's counts its training batches only, like the other two (its validation pass and
checkpoint are reported beside it, and apart, the pass that scores train like val: the
epoch's final weights in eval mode over 10000 training images, validation dataloader 1).
Prints a table and writes benchmarks/results/epoch_speed.json.

    python benchmarks/epoch_speed.py [--epochs 5] [--data_dir data]
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Subset
from torchvision.datasets import FashionMNIST
from torchvision.transforms import ToTensor

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from datamodules import FashionMNISTDataModule  # noqa: E402
from experiments.engine import config, registry  # noqa: E402
from experiments.engine.runner import run_member  # noqa: E402
from experiments.engine.threads import set_torch_threads  # noqa: E402

# benchmark name -> (experiment, member): the book-settings member of each.
MODELS = {"softmax": ("softmax_regression", "concise"), "mlp": ("mlp", "relu")}


def sgd_step(net, optimizer, X, y) -> None:
    loss = F.cross_entropy(net(X), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def timed_epochs(run_epoch, epochs: int) -> list[float]:
    times = []
    for _ in range(epochs + 1):  # the first is a warm-up
        started = time.perf_counter()
        run_epoch()
        times.append(time.perf_counter() - started)
    return times[1:]


def book(net, data_dir: str, indices, epochs: int) -> list[float]:
    dataset = Subset(FashionMNIST(data_dir, train=True, transform=ToTensor()), indices.tolist())
    loader = DataLoader(dataset, batch_size=256, shuffle=True, num_workers=2)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)

    def epoch():
        for X, y in loader:
            sgd_step(net, optimizer, X, y)

    return timed_epochs(epoch, epochs)


def bare(net, X, y, epochs: int) -> list[float]:
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)

    def epoch():
        for idx in torch.randperm(len(X)).split(256):
            sgd_step(net, optimizer, X[idx], y[idx])

    return timed_epochs(epoch, epochs)


class EpochTimer(L.Callback):
    """Training time of each epoch (up to validation), the whole epoch with it, and the
    time of the pass that scores the training split (validation dataloader 1)."""

    def __init__(self):
        self.train, self.whole, self.train_scoring = [], [], []

    def on_train_epoch_start(self, trainer, pl_module):
        self.started = time.perf_counter()
        self.train_scoring.append(0.0)

    def on_validation_epoch_start(self, trainer, pl_module):
        if not trainer.sanity_checking:
            self.train.append(time.perf_counter() - self.started)

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx,
                                  dataloader_idx=0):
        self.batch_started = time.perf_counter()

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx,
                                dataloader_idx=0):
        if dataloader_idx == 1:
            self.train_scoring[-1] += time.perf_counter() - self.batch_started

    def on_train_epoch_end(self, trainer, pl_module):
        self.whole.append(time.perf_counter() - self.started)


def fitlab(experiment: str, member: str, data_dir: str, epochs: int) -> EpochTimer:
    with tempfile.TemporaryDirectory() as logdir:
        _, plan = config.plan(registry.load(experiment), [
            "--study.member", member, "--trainer.max_epochs", str(epochs + 1),
            "--data.data_dir", data_dir, "--logdir", logdir,
        ])
        timer = EpochTimer()
        result = run_member(plan, plan.members[0], extra_callbacks=(timer,))
        assert result["status"] == "completed", result
    return timer


def fresh_net(experiment: str, member: str) -> torch.nn.Module:
    """The same nn.Module that fitlab trains for this member, freshly initialised."""
    _, plan = config.plan(registry.load(experiment), ["--study.member", member])
    return plan.instantiate(plan.members[0])[0].net


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--data_dir", default=str(ROOT / "data"))
    args = parser.parse_args()
    set_torch_threads()  # as run.py does, for all three ways alike

    data = FashionMNISTDataModule(data_dir=args.data_dir)
    data.prepare_data()
    data.setup("fit")
    X, y = data.splits["train"].tensors
    indices = data.source_indices["train"]
    rows = {}
    for name, (experiment, member) in MODELS.items():
        print(f"{name}: book ...", flush=True)
        book_times = book(fresh_net(experiment, member), args.data_dir, indices, args.epochs)
        print(f"{name}: bare ...", flush=True)
        bare_times = bare(fresh_net(experiment, member), X, y, args.epochs)
        print(f"{name}: fitlab ...", flush=True)
        timer = fitlab(experiment, member, args.data_dir, args.epochs)
        row = {  # the first epoch of each is a warm-up
            "book": statistics.median(book_times),
            "bare": statistics.median(bare_times),
            "fitlab": statistics.median(timer.train[1:]),
            "fitlab_with_validation": statistics.median(timer.whole[1:]),
            "train_scored_like_val": statistics.median(timer.train_scoring[1:]),
        }
        row["fitlab/bare"] = row["fitlab"] / row["bare"]
        row["book/fitlab"] = row["book"] / row["fitlab"]
        rows[name] = row

    header = f"{'model':<8} {'book s':>8} {'bare s':>8} {'fitlab s':>9} {'+val s':>8}"
    print(f"\n{header} {'of it train':>12} {'fitlab/bare':>12} {'book/fitlab':>12}")
    for name, r in rows.items():
        print(f"{name:<8} {r['book']:>8.2f} {r['bare']:>8.2f} {r['fitlab']:>9.2f} "
              f"{r['fitlab_with_validation']:>8.2f} {r['train_scored_like_val']:>12.2f} "
              f"{r['fitlab/bare']:>12.2f} {r['book/fitlab']:>12.1f}")
    out = ROOT / "benchmarks" / "results" / "epoch_speed.json"
    out.parent.mkdir(exist_ok=True)
    meta = {"date": time.strftime("%Y-%m-%d"), "torch_threads": torch.get_num_threads(),
            "epochs": args.epochs}
    out.write_text(json.dumps({**meta, "models": rows}, indent=2) + "\n")
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()
