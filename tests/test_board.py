"""TensorBoard as a user opens it: a real server over a study's logdir, read through its
HTTP data API, and what summary.md and runs/index.md say."""

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import run_study

TENSORBOARD = Path(sys.executable).with_name("tensorboard")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def capacity(tmp_path_factory) -> Path:
    logdir = tmp_path_factory.mktemp("runs")
    run_study(logdir, "capacity", "--fast")
    return logdir


@pytest.fixture(scope="module")
def server(capacity):
    port = free_port()
    process = subprocess.Popen([str(TENSORBOARD), "--logdir", str(capacity), "--port", str(port),
                                "--host", "localhost"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://localhost:{port}/data/plugin/hparams"
    try:
        for _ in range(120):  # it reads the event files after it starts listening
            try:
                if post(f"{url}/experiment", {"experimentName": ""}).get("hparamInfos"):
                    break
            except OSError:
                pass
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.slow
def test_hparams_offers_the_varying_settings_and_every_members_metrics(server):
    experiment = post(f"{server}/experiment", {"experimentName": ""})
    hparams = {h["name"]: h for h in experiment["hparamInfos"]}
    # The two curves' settings (the sizes also set their own labels and batch) and the
    # seed (two in --fast); no constants.
    assert set(hparams) == {"data.train_size", "model.num_hiddens", "data.label_noise",
                            "data.batch_size", "seed"}
    assert all(h["differs"] for h in hparams.values())  # TensorBoard's default columns
    metrics = {m["name"]["tag"] for m in experiment["metricInfos"]}
    # capacity's members are points on two validation curves: none is tested.
    assert metrics == {f"{stage}/{m}" for stage in ("train", "val", "train_running")
                       for m in ("loss", "acc")}
    groups = post(f"{server}/session_groups", {
        "experimentName": "", "startIndex": 0, "sliceSize": 100, "colParams": [],
        "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE",
                            "STATUS_RUNNING"]})["sessionGroups"]
    members = {g["name"].rpartition("/")[2]: g for g in groups}
    assert set(members) == {f"{name},seed={seed}" for seed in (0, 1) for name in (
        "width=2", "width=8", "width=16", "width=64", "width=256",
        "size=250", "size=1000", "size=4000")}
    assert members["width=64,seed=0"]["hparams"] == {
        "model.num_hiddens": 64, "data.train_size": 500, "data.label_noise": 0.2,
        "data.batch_size": 64, "seed": 0}
    for group in groups:
        assert {v["name"]["tag"] for v in group["metricValues"]} == metrics


@pytest.mark.slow
def test_the_summary_reads_in_one_screen_and_the_index_lists_it(capacity):
    summary = (capacity / "capacity" / "summary.md").read_text()
    assert summary.index("**Takeaway.**") < summary.index("| member |")
    header = next(line for line in summary.splitlines() if line.startswith("| member |"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert len(columns) <= 12 and {"width", "train size"} <= set(columns)
    assert "class_path" not in summary and "None" not in summary
    assert summary.count("*Train (solid) and validation (dashed)") == 1  # one caption each
    index = (capacity / "index.md").read_text()
    assert "| capacity | 11 |" in index and "(capacity/summary.md)" in index
