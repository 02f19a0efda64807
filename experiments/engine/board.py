"""What fitlab writes to TensorBoard beyond Lightning's scalars: HPARAMS, and each study's
own run (its folder): a Custom Scalars layout, the figures, summary.md as text.

HPARAMS: each member writes only its session (its settings that vary in the study, and
its status), never an experiment summary. TensorBoard then builds the experiment from
every session under the logdir it was given, so the union of the settings is offered and
the ones that differ come first (its default columns); an experiment summary in one run
would instead hide every other run's settings.
"""

import io

import matplotlib.image
from torch.utils.tensorboard.summary import hparams
from torch.utils.tensorboard.writer import SummaryWriter

from experiments.engine.figures import loss_unit
from experiments.engine.plan import Member

STAGES = ("train", "val", "test")
EVENTS = "events.out.tfevents.*"


def hparam_value(value):
    """What TensorBoard can show: numbers, strings and booleans; a one-element list (a
    one-layer MLP's num_hiddens) as its element, so that it sorts as a number."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    return value if isinstance(value, (int, float, str, bool)) else str(value)


def add_hparams(writer: SummaryWriter, params: dict, final: dict[str, float]) -> None:
    """The member's session in the HPARAMS tab: its settings, and that it ended.

    The tab reads each metric's last value from the run's own scalars, so no values are
    written here (SummaryWriter.add_hparams would also write them again as new scalars at
    step 0, putting a stray point on every curve), and no experiment summary (see above).
    """
    plain = {k: hparam_value(v) for k, v in params.items() if v is not None}
    _, session_start, session_end = hparams(plain, final)
    file_writer = writer._get_file_writer()  # reopens it if Lightning's finalize closed it
    file_writer.add_summary(session_start)
    file_writer.add_summary(session_end)
    writer.flush()


def layout(experiment: str, members: list[Member], classifies: bool) -> dict:
    """A Custom Scalars category for the experiment: one chart per stage and metric, so
    train and val are separate, titled series; accuracy only where it classifies."""
    units = " / ".join(dict.fromkeys(loss_unit(m) for m in members)) or "loss"
    charts = {}
    for metric, label in (("loss", units), *([("acc", "accuracy")] if classifies else [])):
        for stage in ("train", "val"):
            charts[f"{stage} {metric} ({label}) by epoch"] = ["Multiline", [f"^{stage}/{metric}$"]]
    return {experiment: charts}


def write_study(folder, experiment: str, members: list[Member], classifies: bool,
                images: dict[str, bytes], summary_md: str) -> None:
    """The study's own run, rewritten with each summary (its older event files removed, so
    TensorBoard shows this summary's figures once, not every earlier one too)."""
    for old in folder.glob(EVENTS):
        old.unlink()
    with SummaryWriter(log_dir=str(folder)) as writer:
        writer.add_custom_scalars(layout(experiment, members, classifies))
        for name, png in images.items():
            writer.add_image(f"{experiment}/{name}", matplotlib.image.imread(io.BytesIO(png)),
                             dataformats="HWC")
        writer.add_text(f"{experiment}/summary", summary_md)
