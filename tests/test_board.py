"""TensorBoard as a user opens it: a real server on loopback over a suite's logdir (and over
one study's), read through its HTTP data API; and what summary.md and runs/index.md say."""

import base64
import html
import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import run_study
from tensorboard import plugin_util
from tensorboard.plugins.hparams import metadata

from experiments.engine import board, serve

TENSORBOARD = Path(sys.executable).with_name("tensorboard")
HOST = "127.0.0.1"
# TensorBoard's HPARAMS query pane shows the first 5 hparams and metrics of the experiment.
SHOWN = 5
STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def ask(url: str, body: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@contextmanager
def tensorboard(logdir: Path, runs: int):
    """A TensorBoard server over `logdir`, once it has loaded `runs` runs: its address."""
    port = free_port()
    process = subprocess.Popen([str(TENSORBOARD), "--logdir", str(logdir), "--host", HOST,
                                "--port", str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 90  # it reads the event files after it starts listening
        while time.monotonic() < deadline:
            try:
                if len(ask(f"{url}/data/runs")) >= runs and ask(
                        f"{url}/data/plugin/hparams/experiment", {"experimentName": ""}
                ).get("hparamInfos"):
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail(f"TensorBoard over {logdir} did not load {runs} runs in 90 s")
        time.sleep(2)  # a reload in progress finishes
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> Path:
    logdir = tmp_path_factory.mktemp("runs")
    run_study(logdir, "capacity", "--fast")  # 8 members, 2 seeds each
    run_study(logdir, "perceptron", "--fast")  # 7 members, 2 seeds each
    return logdir


def runs_in(folder: Path) -> int:
    """How many runs TensorBoard finds under `folder`: the folders holding event files
    (the seeds' runs, the mean runs, the study's own)."""
    return len({path.parent for path in folder.rglob("events.out.tfevents.*")})


def mean_runs(study: Path) -> list[str]:
    """The study's mean runs in its order, `1 width=8`, as the summary lists its members."""
    rows = json.loads((study / "summary.json").read_text())
    return [f"{i} {row['member']}" for i, row in enumerate(rows, 1)]


@pytest.fixture(scope="module")
def whole(suite):
    with tensorboard(suite, runs_in(suite)) as url:
        yield url, ask(f"{url}/data/runs"), ask(f"{url}/data/plugin/scalars/tags"), suite


def experiment_of(url: str) -> tuple[dict, list[dict]]:
    experiment = ask(f"{url}/data/plugin/hparams/experiment", {"experimentName": ""})
    groups = ask(f"{url}/data/plugin/hparams/session_groups", {
        "experimentName": "", "startIndex": 0, "sliceSize": 1000, "colParams": [],
        "allowedStatuses": STATUSES})["sessionGroups"]
    return experiment, groups


def drawn(experiment: dict, groups: list[dict]) -> list[dict]:
    """The trials parallel coordinates draws by default: those with a value in every shown
    column (the query pane's first 5 hparams, differing ones first, and first 5 metrics;
    the plot's _computeValidSessionGroups)."""
    infos = sorted(experiment["hparamInfos"], key=lambda h: not h.get("differs", False))
    hparams = [h["name"] for h in infos][:SHOWN]
    metrics = [m["name"]["tag"] for m in experiment["metricInfos"]][:SHOWN]

    def values(group: dict) -> set[str]:
        return {v["name"]["tag"] for v in group["metricValues"] if v.get("value") != "NaN"}

    return [g for g in groups
            if set(hparams) <= set(g["hparams"]) and set(metrics) <= values(g)]


@pytest.mark.slow
def test_mean_runs_sort_in_study_order_and_carry_only_their_experiments_tags(whole):
    _, runs, tags, _ = whole
    means = [r.removeprefix("capacity/mean/") for r in sorted(runs)
             if r.startswith("capacity/mean/")]
    assert means == sorted(mean_runs(whole[3] / "capacity"))  # study order, sorted as text
    for run, run_tags in tags.items():
        if "/mean/" in run:
            experiment = run.partition("/")[0]
            assert run_tags and all(t.startswith(f"{experiment}/") for t in run_tags)
    seed_run = set(tags["capacity/width=64,seed=1"])
    assert {"train/loss", "val/loss", "train/acc", "val/acc"} <= seed_run
    # The mean of the two seeds' last val/loss, as the seeds' own runs logged it.
    last = []
    for seed in (0, 1):
        points = ask(f"{whole[0]}/data/plugin/scalars/scalars?run=capacity/width%3D64,seed%3D"
                     f"{seed}&tag=val/loss")
        last.append(points[-1][2])
    width64 = next(m for m in mean_runs(whole[3] / "capacity") if m.endswith(" width=64"))
    mean = ask(f"{whole[0]}/data/plugin/scalars/scalars?run=capacity/mean/"
               f"{urllib.parse.quote(width64)}&tag=capacity/val/loss")
    assert mean[-1][2] == pytest.approx(sum(last) / 2, rel=1e-6)


@pytest.mark.slow
def test_experiment_specific_scalars_say_where_they_come_from(whole):
    _, _, tags, _ = whole
    separable = set(tags["perceptron/separable,seed=0"])
    assert {"perceptron/updates", "perceptron/bound"} <= separable
    assert not any(t in ("bound", "updates") for run in tags.values() for t in run)
    every = {t for run in tags.values() for t in run}
    assert all(t.partition("/")[0] in ("train", "val", "test", "train_running", "capacity",
                                      "perceptron") for t in every), every


@pytest.mark.slow
def test_custom_scalars_overlay_train_and_val_and_keep_to_their_experiment(whole):
    url, _, tags, _ = whole
    layout = ask(f"{url}/data/plugin/custom_scalars/layout")
    titles = {c["title"]: c for c in layout["category"]}
    assert set(titles) == {"capacity", "perceptron"}
    for title, category in titles.items():
        assert {c["title"].split(" ")[0] for c in category["chart"]} == {"loss", "acc"}
        for chart in category["chart"]:
            regexes = [re.compile(r) for r in chart["multiline"]["tag"]]
            matched = {(run, t) for run, run_tags in tags.items() for t in run_tags
                       if any(r.search(t) for r in regexes)}
            assert matched and all(run.startswith(f"{title}/") for run, _ in matched)
            stages = {t.split("/")[1] for _, t in matched}
            assert stages == {"train", "val"}  # one chart overlays both


@pytest.mark.slow
def test_hparams_start_on_the_swept_settings_the_seed_index_and_val(suite):
    with tensorboard(suite / "capacity", runs_in(suite / "capacity")) as url:
        experiment, groups = experiment_of(url)
    shown = {h["name"] for h in experiment["hparamInfos"] if h.get("differs")}
    assert shown == {"model.num_hiddens", "data.train_size", "data.label_noise",
                     "data.batch_size", "seed"}
    seed = next(h for h in experiment["hparamInfos"] if h["name"] == "seed")
    assert (seed["domainInterval"]["minValue"], seed["domainInterval"]["maxValue"]) == (0, 1)
    metrics = [m["name"]["tag"] for m in experiment["metricInfos"]]
    # val, then the study's own (every model's ‖w‖₂), then train
    assert metrics[:SHOWN] == ["val/loss", "val/acc", "capacity/w_norm", "train/loss",
                               "train/acc"]
    assert len(groups) == 16 and len(drawn(experiment, groups)) == 16
    members = {g["name"]: g["hparams"] for g in groups}
    assert members["width=64,seed=1"] == {"model.num_hiddens": 64, "data.train_size": 500,
                                          "data.label_noise": 0.2, "data.batch_size": 64,
                                          "seed": 1}


@pytest.mark.slow
def test_hparams_show_a_studys_own_metrics_and_draw_every_trial(suite):
    study = suite / "perceptron"
    with tensorboard(study, runs_in(study)) as url:
        experiment, groups = experiment_of(url)
    metrics = [m["name"]["tag"] for m in experiment["metricInfos"]]
    assert {"perceptron/updates", "perceptron/bound"} <= set(metrics[SHOWN:])  # not in all
    assert metrics[:2] == ["val/loss", "val/acc"]
    trials = len(list(study.glob("*/metrics.json")))
    assert len(groups) == trials and len(drawn(experiment, groups)) == trials
    separable = next(g for g in groups if g["name"] == "separable,seed=0")
    values = {v["name"]["tag"]: v["value"] for v in separable["metricValues"]}
    assert 0 < values["perceptron/updates"] <= values["perceptron/bound"]


@pytest.mark.slow
def test_the_printed_address_ticks_few_enough_runs_to_be_ticked(suite):
    one = serve.selection(suite / "capacity")
    means = mean_runs(suite / "capacity")
    assert one.count == 1 + len(means) <= serve.MAX_TICKED and not one.note
    assert one.ticked == one.runs
    names = [".", "width=2,seed=0", *(f"mean/{i} x" for i in range(1, len(means) + 1))]
    assert [n for n in names if re.search(one.runs, n)] == [".", *names[2:]]
    assert re.search(one.tags, "capacity/val/loss") and not re.search(one.tags, "val/loss")
    address = serve.address(HOST, 6006, one)
    assert address.startswith(f"http://{HOST}:6006/?runFilter=") and "#timeseries&" in address
    both = serve.selection(suite)  # 2 studies' own runs and their mean runs: all ticked
    assert both.count == 2 + len(means) + len(mean_runs(suite / "perceptron"))
    assert re.search(both.ticked, f"capacity/mean/{means[0]}")
    assert re.search(both.ticked, "perceptron") and not re.search(both.ticked, "perceptron/xor")


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("chromium"), reason="needs Debian's chromium")
def test_the_printed_address_lands_on_the_figures_and_the_mean_curves(suite):
    """Headless Chromium renders the address serve.py prints; TIME SERIES (Angular, so its
    DOM can be dumped) must show the study's figures and mean curves, and no seed's run."""
    logdir = suite / "capacity"
    with tensorboard(logdir, runs_in(logdir)) as url:
        address = serve.address(HOST, int(url.rpartition(":")[2]), serve.selection(logdir))
        for _ in range(4):  # a busy machine may render the cards after the time budget
            page = subprocess.run(
                ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                 "--virtual-time-budget=30000", "--window-size=1600,1000", address],
                capture_output=True, text=True, timeout=120).stdout
            images = re.findall(r'src="data/plugin/timeseries/imageData\?imageId=([^"]+)"',
                                page)
            if images:
                break
    shown = {json.loads(base64.urlsafe_b64decode(i + "==").decode())[2] for i in images}
    assert {"capacity/curves", "capacity/learning_curve"} <= shown
    assert all(f"mean/{i} " in page for i in range(1, len(mean_runs(logdir)) + 1))
    assert "capacity/train/loss" in page
    assert ",seed=" not in page  # the seeds' runs are filtered out of the runs table


@pytest.mark.slow
def test_the_summary_reads_in_one_screen_and_the_index_lists_it(suite):
    summary = (suite / "capacity" / "summary.md").read_text()
    assert summary.index("**Takeaway.**") < summary.index("| member |")
    header = next(line for line in summary.splitlines() if line.startswith("| member |"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert len(columns) <= 12 and {"width", "train size"} <= set(columns)
    assert "class_path" not in summary and "None" not in summary
    assert summary.count("*Train (solid) and validation (dashed)") == 1  # one caption each
    index = (suite / "index.md").read_text()
    assert "| capacity | 11 |" in index and "(capacity/summary.md)" in index


def test_text_names_each_figure_with_a_link_that_survives_tensorboards_sanitizer():
    summary = "# capacity\n\n![curves](curves.png)\n\n*Train and val*\n"
    page = plugin_util.markdown_to_safe_html(board.tensorboard_text(summary, "capacity"))
    assert "<img" not in page and "capacity/curves" in page  # no 404ing image
    link = html.unescape(re.search(r'href="([^"]+)"', page)[1])
    fragment = dict(part.split("=") for part in link.removeprefix("#images&").split("&"))
    runs = re.compile(urllib.parse.unquote(fragment["regexInput"]))
    ticked = [".", "capacity", "mean/1 width=2", "capacity/mean/1 width=2"]
    assert all(runs.search(r) for r in ticked)
    assert not any(runs.search(r) for r in ["width=2,seed=0", "capacity/width=2,seed=0",
                                            "mlp", "mlp/mean/1 relu"])


def test_hparams_metrics_every_trial_has_come_first_val_before_the_studys_own_before_train():
    tested = {"val/loss", "train/loss", "test/loss", "s/w_norm", "s/bias"}
    selection_only = {"val/loss", "train/loss", "s/w_norm", "s/bias"}
    order = board.ordered_metrics([tested, selection_only, selection_only], ["s/w_norm", "s/bias"])
    assert order == ["val/loss", "s/w_norm", "s/bias", "train/loss", "test/loss"]


def test_hparams_show_the_swept_settings_and_the_seed_and_list_only_what_every_trial_has():
    # 4 widths x 2 seeds; batch follows width (2 values); lr is set on half the members.
    sessions = [{"width": w, "batch": 64 if w < 16 else 256, "seed": k,
                 **({"lr": 0.1} if w < 16 else {})} for w in (2, 8, 16, 64) for k in (0, 1)]
    experiment = board.experiment_summary(sessions, ["val/loss"]).value[0]
    infos = metadata.parse_experiment_plugin_data(experiment.metadata.plugin_data.content)
    shown = {h.name: h.differs for h in infos.hparam_infos}
    # Fewer than 5 settings every trial has: lr (some trials lack it) would be a shown
    # column, dropping the others from parallel coordinates, so it is not listed.
    assert shown == {"width": True, "batch": True, "seed": True}
    width = next(h for h in infos.hparam_infos if h.name == "width")
    assert (width.domain_interval.min_value, width.domain_interval.max_value) == (2, 64)
