"""A stacked group of polynomial members trained on `devices` CPU processes (gloo) with a
per-rank batch of 10 / devices; rank 0 writes the members' final weights and val/loss.

Plain `ddp` re-launches sys.argv, so test_members_data.py runs this file in a subprocess:
    python tests/stacked_ddp_run.py DEVICES OUT.pt
"""

import sys
from pathlib import Path

import lightning as L
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datamodules import PolynomialData  # noqa: E402
from members.data import StackedData  # noqa: E402
from members.stacked import StackedMembers  # noqa: E402
from modules import LinearRegression  # noqa: E402


def main(devices: int, out: str) -> None:
    models, datas = [], []
    for seed, fold in [(0, 0), (1, 1), (2, 2)]:
        L.seed_everything(seed, verbose=False)
        models.append(LinearRegression(num_inputs=4, bias=False, lr=0.02, momentum=0.5))
        datas.append(PolynomialData(batch_size=10 // devices, fold=fold))
    group = StackedMembers(models)
    trainer = L.Trainer(accelerator="cpu", devices=devices,
                        strategy="ddp" if devices > 1 else "auto", max_epochs=3,
                        use_distributed_sampler=False, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)
    trainer.fit(group, datamodule=StackedData(datas))
    if trainer.is_global_zero:
        torch.save({"all": torch.stack([group.member_state_dict(k)["net.weight"]
                                        for k in range(3)]),
                    "val/loss": group.epoch_metrics["val/loss"],
                    "train/loss": group.epoch_metrics["train/loss"]}, out)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
