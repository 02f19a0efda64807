"""What fitlab writes to TensorBoard beyond Lightning's scalars, so that it opens on the
results: each member's HPARAMS session and final numbers, and, written with each summary,
the study's own run (its folder: the figures, summary.md, the Custom Scalars layout and
the HPARAMS experiment) and one mean run per member:

    <experiment>/                    the study's run (`.`): IMAGES, TEXT, layout, HPARAMS
    <experiment>/mean/<NN> <member>  the member's curves, averaged over its seeds, tagged
                                     `<experiment>/train/loss`, `<experiment>/val/loss`, ...
    <experiment>/<member>/           each seed's run: `train/loss`, ... (the contract), and
                                     `<experiment>/<metric>` for its own final numbers

Why so (TensorBoard 2.21's frontend):
- SCALARS, CUSTOM SCALARS, IMAGES and TEXT tick no run when more than 40 match the run
  filter (tf-multi-checkbox's maxNamesToEnableByDefault), and a 5-seed study has more. The
  mean runs and the study's run are few: `make tensorboard` (serve.py) prints the address
  whose run filters (`regexInput`, `runFilter`) select just them.
- A Custom Scalars chart matches tags, in every run: only `<experiment>/...` tags keep one
  experiment's charts free of the others' runs in a whole-suite logdir.
- HPARAMS shows the first 5 hparams (those that differ first, each group by name) and the
  first 5 metrics of the experiment, and parallel coordinates drop every trial lacking a
  shown column: the experiment summary marks only the swept settings and the seed index
  as differing, and lists first the metrics every trial has, val before test before train.
- TensorBoard sorts run names as text (`width=16` before `width=2`): the mean runs carry
  their member's place in the study (`03 width=16`); the seeds' folders keep the
  contract's `<member>` names, which TensorBoard's own `/data/runs` orders by start time.
"""

import io
import math
import re
import shutil
import urllib.parse
from pathlib import Path

import matplotlib.image
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
from torch.utils.tensorboard.summary import hparams
from torch.utils.tensorboard.writer import SummaryWriter

from experiments.engine.figures import loss_unit, read_curves
from experiments.engine.plan import SEED_SEPARATOR, Member, Plan
from experiments.engine.serve import MEANS

STAGES = ("train", "val", "test")
CURVES = ("train", "val", "test", "train_running")  # <stage>/<metric>, averaged over seeds
EVENTS = "events.out.tfevents.*"
SEED = "seed"  # the HPARAMS column of a member's seed index (0 .. seeds-1)
DEFAULT_SHOWN = 5  # hparams and metrics HPARAMS shows before a click (query pane)
METRIC_ORDER = ("val/loss", "val/acc", "test/loss", "test/acc")  # then the study's own


def hparam_value(value):
    """What TensorBoard can show: numbers, strings and booleans; a one-element list (a
    one-layer MLP's num_hiddens) as its element, so that it sorts as a number."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    return value if isinstance(value, (int, float, str, bool)) else str(value)


def seed_index(name: str) -> int | None:
    """k of the run `NAME,seed=k`; None for a member run with one seed."""
    _, separator, index = name.partition(SEED_SEPARATOR)
    return int(index) if separator else None


def session_hparams(varying: dict, run: str) -> dict:
    """What HPARAMS compares for a member's run: the settings the study varies (`varying`:
    report.varying_settings' entry for the member), without class paths (the member's
    name says what it is) and unset ones, and the seed's index (the seed itself is a
    10-digit mix of --seed and the index: plan.py)."""
    params = {k: hparam_value(v) for k, v in varying.items()
              if not k.endswith("class_path") and v is not None}
    if (index := seed_index(run)) is not None:
        params[SEED] = index
    return params


def own_scalars(experiment: str, metrics: dict) -> dict[str, float]:
    """The study's own final numbers (`w_norm`, `updates`, `bias2`, ...) as the scalars
    `<experiment>/<name>`: named for where they come from, and HPARAMS metrics."""
    return {f"{experiment}/{k}": float(v) for k, v in metrics.items()
            if "/" not in k and isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(v)}


def add_session(writer: SummaryWriter, experiment: str, params: dict, result: dict) -> None:
    """The member's final numbers of its own, at its last epoch, and its HPARAMS session:
    its settings, and that it ended. The tab reads each metric's last value from the run's
    scalars, so no values go into the session (SummaryWriter.add_hparams would write them
    again as new scalars at step 0, a stray point on every curve)."""
    step = max(result["epochs"], 1)
    for tag, value in own_scalars(experiment, result["metrics"]).items():
        writer.add_scalar(tag, value, step)
    _, session_start, session_end = hparams(params, {})
    file_writer = writer._get_file_writer()  # reopens it if Lightning's finalize closed it
    file_writer.add_summary(session_start)
    file_writer.add_summary(session_end)
    writer.flush()


def ordered_metrics(tags_by_run: list[set[str]], own: list[str]) -> list[str]:
    """HPARAMS' metrics in the order it shows them: those every trial has first (a shown
    column a trial lacks drops it from parallel coordinates), then by how many trials have
    them; each group val, test, the study's own (`own`, in its order), train, loss before
    accuracy."""
    every = set.intersection(*tags_by_run) if tags_by_run else set()
    found = sorted(set().union(*tags_by_run))

    def rank(tag: str) -> tuple:
        stage = tag.partition("/")[0]
        place = (METRIC_ORDER.index(tag) if tag in METRIC_ORDER
                 else len(METRIC_ORDER) + own.index(tag) if tag in own
                 else len(METRIC_ORDER) + len(own) + CURVES.index(stage) if stage in CURVES
                 else len(METRIC_ORDER) + len(own) + len(CURVES))
        coverage = sum(tag in tags for tags in tags_by_run)
        return tag not in every, -coverage, place, not tag.endswith("/loss"), tag

    return sorted(found, key=rank)


def hparam_info(name: str, values: list, shown: bool) -> api_pb2.HParamInfo:
    info = api_pb2.HParamInfo(name=name, differs=shown)
    if all(isinstance(v, bool) for v in values):
        info.type = api_pb2.DATA_TYPE_BOOL
        info.domain_discrete.extend(sorted(set(values)))
    elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        info.type = api_pb2.DATA_TYPE_FLOAT64
        info.domain_interval.min_value, info.domain_interval.max_value = min(values), max(values)
    else:
        info.type = api_pb2.DATA_TYPE_STRING
        info.domain_discrete.extend(sorted({str(v) for v in values}))
    return info


def experiment_summary(sessions: list[dict], metrics: list[str]) -> Summary:
    """HPARAMS' experiment: the sessions' settings and the metrics, in order. Shown first
    (marked as differing) are settings every trial has: the swept ones (the most distinct
    values first: the grid, not what follows from it) and the seed index. A setting some
    trials lack is listed only where it cannot take one of the shown columns."""
    names = list(dict.fromkeys(k for s in sessions for k in s))
    values = {k: [s[k] for s in sessions if k in s] for k in names}
    complete = [k for k in names if len(values[k]) == len(sessions)]
    swept = sorted((k for k in complete if k != SEED),
                   key=lambda k: -len({repr(v) for v in values[k]}))
    shown = {*swept[:DEFAULT_SHOWN - (SEED in complete)], *({SEED} & set(complete))}
    listed = names if len(complete) >= DEFAULT_SHOWN else complete
    experiment = api_pb2.Experiment(
        hparam_infos=[hparam_info(k, values[k], k in shown) for k in listed],
        metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=t)) for t in metrics])
    content = metadata.create_summary_metadata(
        plugin_data_pb2.HParamsPluginData(experiment=experiment))
    return Summary(value=[Summary.Value(tag=metadata.EXPERIMENT_TAG, metadata=content,
                                        tensor=metadata.NULL_TENSOR)])


def layout(experiment: str, members: list[Member], classifies: bool, seeds: int = 1) -> dict:
    """The experiment's Custom Scalars category: one chart per metric overlaying train and
    val of each member's mean run (the only runs with `<experiment>/` curves)."""
    units = " / ".join(dict.fromkeys(loss_unit(m) for m in members)) or "loss"
    metrics = (("loss", units), *([("acc", "accuracy")] if classifies else []))
    name, over = re.escape(experiment), f"mean over {seeds} seeds" if seeds > 1 else "by member"
    return {experiment: {f"{metric} ({label}): train and val, {over}":
                         ["Multiline", [f"^{name}/(train|val)/{metric}$"]]
                         for metric, label in metrics}}


def tensorboard_text(summary_md: str, experiment: str) -> str:
    """summary.md for TEXT, which cannot show the PNGs beside it (a relative link is a 404
    there, and its sanitizer strips data: URIs): each figure is named, with a link to
    IMAGES whose run filter ticks the study's run and its mean runs (the study's run is
    `.` in the study's logdir, `<experiment>` in the suite's)."""
    name = re.escape(experiment)
    runs = urllib.parse.quote(f"^(\\.|{name})$|^({name}/)?{MEANS}/", safe="")

    def pointer(match: re.Match) -> str:
        return (f"**Figure `{experiment}/{match[1]}`**, in IMAGES and TIME SERIES "
                f"([open IMAGES](#images&regexInput={runs}))")

    return re.sub(r"!\[([^\]]*)\]\([^)]*\.png\)", pointer, summary_md)


def mean_curves(runs: list[dict]) -> dict[str, dict[int, float]]:
    """tag -> step -> the mean over the seeds that logged a finite value there."""
    values: dict[str, dict[int, list[float]]] = {}
    for curves in runs:
        for tag, (steps, points) in curves.items():
            if tag.partition("/")[0] in CURVES:
                for step, value in zip(steps, points, strict=True):
                    if math.isfinite(value):
                        values.setdefault(tag, {}).setdefault(step, []).append(value)
    return {tag: {s: sum(v) / len(v) for s, v in sorted(by_step.items())}
            for tag, by_step in values.items()}


def seed_runs(result: dict) -> list[str]:
    """The run folders of a merged result's member (aggregate.merge_seeds): its completed
    seeds (a diverged seed's curve stops: the mean would change members midway), else all."""
    runs = result.get("runs", [result])
    return [r["member"] for r in ([r for r in runs if r["status"] == "completed"] or runs)]


def write_means(folder: Path, experiment: str, results: list[dict],
                curves: dict[str, dict]) -> None:
    """One run per member: its curves (`curves`: run -> read_curves) averaged over its
    seeds, as `<experiment>/<tag>`."""
    shutil.rmtree(folder / MEANS, ignore_errors=True)
    digits = len(str(len(results)))
    for place, result in enumerate(results, start=1):
        seeds = [curves[run] for run in seed_runs(result) if run in curves]
        name = f"{place:0{digits}d} {result['member']}"
        with SummaryWriter(log_dir=str(folder / MEANS / name)) as writer:
            for tag, by_step in mean_curves(seeds).items():
                for step, value in by_step.items():
                    writer.add_scalar(f"{experiment}/{tag}", value, step)


def write_study(plan: Plan, results: list[dict], varying: dict[str, dict], classifies: bool,
                images: dict[str, bytes], summary_md: str) -> None:
    """The study's own run and the mean runs, rewritten with each summary (older event
    files removed, so TensorBoard shows this summary's figures once, not every earlier
    one too). `results`: merged, one per member; `varying`: report.varying_settings."""
    folder, experiment = plan.folder, plan.experiment.name
    for old in folder.glob(EVENTS):
        old.unlink()
    runs = {seed["member"]: r["member"] for r in results for seed in r.get("runs", [r])}
    curves = {run: read_curves(folder / run) for run in runs if (folder / run).is_dir()}
    write_means(folder, experiment, results, curves)
    sessions = [session_hparams(varying.get(member, {}), run) for run, member in runs.items()]
    tags = [set(run_curves) for run_curves in curves.values()]
    own = list(dict.fromkeys(t for r in results for seed in r.get("runs", [r])
                             for t in own_scalars(experiment, seed["metrics"])))
    members = [m for m in plan.members if m.name in {r["member"] for r in results}]
    seeds = max((r.get("seeds", 1) for r in results), default=1)
    with SummaryWriter(log_dir=str(folder)) as writer:
        writer.add_custom_scalars(layout(experiment, members, classifies, seeds))
        writer._get_file_writer().add_summary(
            experiment_summary(sessions, ordered_metrics(tags, own)))
        for name, png in images.items():
            writer.add_image(f"{experiment}/{name}", matplotlib.image.imread(io.BytesIO(png)),
                             dataformats="HWC")
        writer.add_text(f"{experiment}/summary", tensorboard_text(summary_md, experiment))
