"""Wall time of K members trained as one stacked group against the same K one by one.

    one by one  each member built as Plan.instantiate builds it (seeded, then model and
                data) and fitted by its own Lightning Trainer
    stacked     the same K members as StackedMembers + StackedData under one Trainer

Each side runs --repeats times, alternating, and its fastest run counts. Both sides use
the same Trainer settings (no logger, checkpoint or progress bar: the
training alone) and count everything from building the members to the end of fit, data
loading included, since the one-by-one path pays that once per member. Each side checks
what it computed: the largest relative difference of the members' final val/loss is
printed beside the times. Prints a table; writes benchmarks/results/members_speed.json.

    python benchmarks/members_speed.py [--epochs 100] [--fashion_epochs 2]

The chapter-11 cases run 100 of the book's 400 epochs by default (the ratio hardly
depends on it: every epoch costs the same), the Fashion-MNIST ones 2 epochs.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import lightning as L
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from datamodules import FashionMNISTDataModule, PolynomialData  # noqa: E402
from experiments.engine.threads import set_torch_threads  # noqa: E402
from members.data import StackedData  # noqa: E402
from members.stacked import StackedMembers  # noqa: E402
from modules import MLP, LinearRegression, SoftmaxRegression  # noqa: E402

TRAINER = dict(logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False, use_distributed_sampler=False)


def polynomial(seed: int, lr: float = 0.02, weight_decay: float = 0.0, fold: int | None = None):
    return (LinearRegression(num_inputs=4, bias=False, lr=lr, weight_decay=weight_decay),
            PolynomialData(degree=3, batch_size=10, fold=fold))


def softmax(seed: int):
    return SoftmaxRegression(lr=0.1), FashionMNISTDataModule(batch_size=256)


def mlp(seed: int):
    return MLP(num_hiddens=[256], lr=0.1), FashionMNISTDataModule(batch_size=256)


# name -> (what it is, members as (seed, build kwargs), build, which epochs, Trainer args,
#          whether the members' data settings are all the same: one dataset)
CASES = {
    "polynomial": ("10 members: 5 seeds x weight decay {0, 0.1}",
                   [(s, dict(weight_decay=wd)) for s in range(5) for wd in (0.0, 0.1)],
                   polynomial, "epochs", dict(check_val_every_n_epoch=10), True),
    "kfold": ("5 folds of the cubic", [(0, dict(fold=k)) for k in range(5)],
              polynomial, "epochs", dict(check_val_every_n_epoch=10), False),
    "softmax": ("8 seeds, Fashion-MNIST, batch 256", [(s, {}) for s in range(8)],
                softmax, "fashion_epochs", {}, True),
    "mlp": ("8 seeds, 256 hidden, Fashion-MNIST", [(s, {}) for s in range(8)],
            mlp, "fashion_epochs", {}, True),
}


def build(make, members):
    built = []
    for seed, kwargs in members:
        L.seed_everything(seed, verbose=False)  # as Plan.instantiate: seed, then build
        built.append(make(seed, **kwargs))
    return built


def one_by_one(make, members, trainer_args) -> tuple[float, list[float]]:
    started, val_losses = time.perf_counter(), []
    for model, data in build(make, members):
        trainer = L.Trainer(**TRAINER, **trainer_args)
        trainer.fit(model, datamodule=data)
        val_losses.append(trainer.callback_metrics["val/loss"].item())
    return time.perf_counter() - started, val_losses


def stacked(make, members, trainer_args, one_dataset: bool) -> tuple[float, list[float]]:
    started = time.perf_counter()
    built = build(make, members)
    group = StackedMembers([model for model, _ in built])
    # Each member's own datamodule and batch order, as the engine builds them (one dataset
    # is loaded once, as groups.same_data tells StackedData); the training split scored in
    # eval mode as train/*, as each one-by-one member scores it.
    data = StackedData([d for _, d in built],
                       same_data=[0] * len(built) if one_dataset else None)
    L.Trainer(**TRAINER, **trainer_args).fit(group, datamodule=data)
    return time.perf_counter() - started, group.epoch_metrics["val/loss"].tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100,
                        help="epochs of the polynomial and kfold cases (the book's: 400)")
    parser.add_argument("--fashion_epochs", type=int, default=2,
                        help="epochs of the Fashion-MNIST cases")
    parser.add_argument("--repeats", type=int, default=2,
                        help="runs of each side, alternating; the fastest counts (the "
                             "machine is shared: the minimum is the least disturbed)")
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    args = parser.parse_args()
    set_torch_threads()
    # Lazy imports and first-call costs land in whichever side runs first: pay them here.
    warm_up = [(0, {}), (1, {})]
    one_by_one(polynomial, warm_up, dict(max_epochs=1))
    stacked(polynomial, warm_up, dict(max_epochs=1), one_dataset=True)
    rows = []
    for name in args.cases:
        what, members, make, epochs, trainer_args, one_dataset = CASES[name]
        trainer_args = {**trainer_args, "max_epochs": getattr(args, epochs)}
        serial, together = float("inf"), float("inf")
        for _ in range(args.repeats):
            seconds, serial_losses = one_by_one(make, members, trainer_args)
            serial = min(serial, seconds)
            seconds, together_losses = stacked(make, members, trainer_args, one_dataset)
            together = min(together, seconds)
        differences = [abs(a - b) / abs(a) for a, b in zip(serial_losses, together_losses,
                                                           strict=True)]
        rows.append({"case": name, "what": what, "members": len(members),
                     "epochs": trainer_args["max_epochs"], "one_by_one_s": round(serial, 2),
                     "stacked_s": round(together, 2), "speedup": round(serial / together, 1),
                     "max_rel_diff_val_loss": max(differences)})
        print(rows[-1], flush=True)
    print(f"\n{'case':<11} {'members':>7} {'epochs':>6} {'one by one':>11} {'stacked':>8} "
          f"{'speed-up':>8}  max rel. diff val/loss")
    for r in rows:
        print(f"{r['case']:<11} {r['members']:>7} {r['epochs']:>6} {r['one_by_one_s']:>10.2f}s "
              f"{r['stacked_s']:>7.2f}s {r['speedup']:>7.1f}x  {r['max_rel_diff_val_loss']:.1e}")
    out = ROOT / "benchmarks" / "results" / "members_speed.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                               "repeats": args.repeats, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
