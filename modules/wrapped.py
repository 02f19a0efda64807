"""Your own network as a fitlab model: a plain nn.Module trained by fitlab's system.

fitlab's studies need more of a model than its forward: train scored like val, each
example's loss (so seeds group), torchmetrics per stage, the run's seed (handed over by the engine).
FitModule provides all of that around `self.net`; these two classes make your network
that `net`, named by its class path and built from its own arguments:

    model:
      class_path: modules.WrappedClassifier
      init_args:
        net: {class_path: mypkg.models.TinyMLP, init_args: {num_hiddens: 16}}
        num_outputs: 2

The network is built inside the model, after the run is seeded, so each seed starts
from its own initialisation and a group of seeds starts where the one-by-one runs do.
A LightningModule works as `net` too: fitlab then trains its forward with its own loss
and optimizer (its training_step and configure_optimizers are not used).
"""

from typing import Any

from lightning.pytorch.cli import instantiate_class
from torch import Tensor, nn

from modules import losses
from modules.base import Classifier, Regressor, check


def build_net(net: nn.Module | dict[str, Any]) -> nn.Module:
    """The network: built from {class_path, init_args} (what a config gives), or as given."""
    if isinstance(net, dict):
        net = instantiate_class((), net)
    check(isinstance(net, nn.Module),
          f"net must be a torch.nn.Module, got {type(net).__module__}.{type(net).__name__}")
    return net


class WrappedClassifier(Classifier):
    """Your network's outputs as `num_outputs` class scores (logits): cross-entropy loss,
    accuracy."""

    def __init__(self, net: nn.Module, num_outputs: int, lr: float = 0.1, **kwargs):
        """
        Args:
            net: your network, a torch.nn.Module: its class_path and init_args.
            num_outputs: how many classes its outputs score (its last dimension).
            kwargs: how fitlab trains it (optimizer, momentum, weight_decay, ...: FitModule's).
        """
        super().__init__(lr, num_outputs, **kwargs)
        self.net = build_net(net)

    def example_losses(self, y_hat: Tensor, y: Tensor) -> Tensor:
        # A shape, not a value: no sync. Caught here, before torchmetrics' own message.
        check(y_hat.shape[-1] == self.num_outputs,
              f"net gives {y_hat.shape[-1]} outputs per example but num_outputs is "
              f"{self.num_outputs}: set --model.num_outputs {y_hat.shape[-1]}, or make the net "
              f"give {self.num_outputs}")
        return super().example_losses(y_hat, y)


class WrappedRegressor(Regressor):
    """Your network's outputs as predictions of y, of y's shape: a regression loss."""

    def __init__(self, net: nn.Module, loss: losses.LossName = "l2", lr: float = 0.03,
                 **kwargs):
        """
        Args:
            net: your network, a torch.nn.Module: its class_path and init_args.
            loss: l2, l1 or huber, each example's loss against y.
            kwargs: how fitlab trains it (optimizer, momentum, weight_decay, ...: FitModule's).
        """
        super().__init__(lr, loss, **kwargs)
        self.net = build_net(net)
