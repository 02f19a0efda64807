"""The book's curves figure read back from event files: a curve where there is one."""

from jsonargparse import Namespace
from matplotlib.figure import Figure
from torch.utils.tensorboard import SummaryWriter

from experiments.engine.figures import band, curves_figure
from experiments.engine.plan import Member


def member(tmp_path, name: str, class_path: str, train_loss: list[float]) -> Member:
    """A member of `class_path` whose run logged `train_loss` and as much val/loss, by epoch."""
    folder = tmp_path / name
    with SummaryWriter(str(folder)) as writer:
        for epoch, value in enumerate(train_loss, start=1):
            writer.add_scalar("train/loss", value, epoch)
            writer.add_scalar("val/loss", value * 1.1, epoch)
    config = Namespace(model=Namespace(class_path=class_path, init_args=Namespace(loss="l2")))
    return Member(name=name, config=config, folder=folder, overrides={})


def test_closed_form_fits_alone_draw_no_curve_figure(tmp_path):
    solved = [member(tmp_path, f"degree={d}", "modules.LeastSquares", [0.5]) for d in (1, 3)]
    assert curves_figure(solved) is None
    # Solved again each epoch (a --fast run has two), it is still no curve.
    assert curves_figure([member(tmp_path, "again", "modules.LeastSquares", [0.5, 0.5])]) is None


def test_one_epoch_members_alone_draw_no_curve_figure(tmp_path):
    assert curves_figure([member(tmp_path, "short", "modules.LinearRegression", [0.3])]) is None


def test_a_closed_form_beside_trained_members_is_drawn_as_points(tmp_path):
    sgd = member(tmp_path, "sgd", "modules.LinearRegression", [1.0, 0.5, 0.25])
    solved = member(tmp_path, "solved", "modules.LeastSquares", [0.2])
    figure = curves_figure([sgd, solved])
    lines = {line.get_label(): line for line in figure.axes[0].get_lines()}
    assert lines["sgd"].get_linestyle() == "-" and list(lines["sgd"].get_xdata()) == [1, 2, 3]
    assert lines["solved"].get_linestyle() == "None" and lines["solved"].get_marker() == "o"
    assert figure.axes[0].get_xlabel() == "epoch" and figure.axes[0].get_ylabel() == "½·MSE"


def test_a_band_on_a_log_axis_stops_at_a_tenth_of_the_mean():
    ax = Figure().subplots()
    band(ax, [1, 2, 3], [1.0, 2.0, 3.0], [0.5, 5.0, float("nan")], "o-", "C0", "m", log=True)
    lower = ax.collections[0].get_paths()[0].vertices[:, 1]
    # The ± se band: mean − se where that stays above mean/10, else mean/10; NaN: no band.
    assert {round(y, 9) for y in lower} >= {0.5, 0.2, 3.0}
    assert min(lower) >= 0.1
