"""Did a run learn? A run whose numbers stay finite can still have learned nothing (a
classifier at chance, a loss that rose): such a run is no result, and says so."""

import lightning as L

from experiments.engine.plan import Plan

# A run "did not learn" when its final train/loss is this much above the first it scored
# (its first validation): rising, not the noise of a run that converged in one epoch.
LOSS_RISE = 0.1
# ... or a classifier's final train/acc is at most chance (1/classes) plus this.
CHANCE_MARGIN = 0.02


class FirstTrainLoss(L.Callback):
    """The first train/loss a run scores (train is scored as val, when validation runs);
    kept in last.ckpt, so a resumed run still compares its final one with it."""

    def __init__(self):
        self.loss: float | None = None

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Validation (and so train/*) has run by now; the checkpoint is saved after this.
        if self.loss is None and "train/loss" in trainer.callback_metrics:
            self.loss = trainer.callback_metrics["train/loss"].item()

    def state_dict(self) -> dict:
        return {"loss": self.loss}

    def load_state_dict(self, state_dict: dict) -> None:
        self.loss = state_dict["loss"]


def not_learning(plan: Plan, model: L.LightningModule, metrics: dict,
                 first_loss: float | None) -> str | None:
    """Why a run that finished with finite numbers did not learn, with the hint, or None:
    its train/loss rose above the first it scored, or a classifier ends at chance. Not
    judged: --fast's few steps (a taste, not a result), models that step themselves
    (automatic_optimization off: closed forms solve, the perceptron stops by its own
    rule), runs scored once."""
    if plan.base.fast or not model.automatic_optimization:
        return None
    lr = model.hparams.get("lr")
    hint = f"; --model.lr {lr:g} is likely too large (try {lr / 10:g})" if lr else ""
    loss, acc, classes = (metrics.get("train/loss"), metrics.get("train/acc"),
                          model.hparams.get("num_outputs"))
    if acc is not None and classes and acc <= 1 / classes + CHANCE_MARGIN:
        # At chance the net predicts one class: its units died or its steps overshot.
        return (f"did not learn: train/acc {acc:.3f} is chance (1/{classes}), the "
                f"optimisation failed (dead units, or too large a step){hint}")
    if loss is not None and first_loss is not None and loss > first_loss * (1 + LOSS_RISE):
        return (f"did not learn: train/loss rose from {first_loss:.4g} (its first score) "
                f"to {loss:.4g}{hint}")
    return None


def judged(plan: Plan, model: L.LightningModule, result: dict,
           first_loss: float | None = None) -> dict:
    """A completed result that did not learn (not_learning) becomes `diverged`, as a run
    whose loss became NaN is: a result, reported with its hint, that studies leave out;
    `flag` says which kind. metrics.json keeps its numbers."""
    if result["status"] == "completed" and (
            why := not_learning(plan, model, result["metrics"], first_loss)):
        result.update(status="diverged", flag="did not learn", message=why)
    return result
