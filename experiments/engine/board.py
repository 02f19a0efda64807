"""What fitlab writes to TensorBoard beyond Lightning's scalars: layout, HPARAMS, figures."""

from torch.utils.tensorboard.summary import hparams
from torch.utils.tensorboard.writer import SummaryWriter

STAGES = ("train", "val", "test")


def add_layout(writer: SummaryWriter, metrics: list[str]) -> None:
    """A Custom Scalars chart per metric that overlays its train, val (and test) curves."""
    charts = {name: ["Multiline", [f"{stage}/{name}" for stage in STAGES]] for name in metrics}
    writer.add_custom_scalars({"train vs val": charts})


def add_hparams(writer: SummaryWriter, params: dict, final: dict[str, float]) -> None:
    """The HPARAMS tab: this run's settings beside its final metrics.

    The tab reads each metric's last value from the run's own scalars, so only the
    summaries are written here (SummaryWriter.add_hparams would also write the values
    again as new scalars at step 0, putting a stray point on every curve).
    """
    plain = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in params.items()}
    file_writer = writer._get_file_writer()  # reopens it if Lightning's finalize closed it
    for summary in hparams(plain, final):
        file_writer.add_summary(summary)
    writer.flush()
