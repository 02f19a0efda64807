"""Shared helpers: run fitlab's command line for real, read what it wrote."""

import io
import json
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from datamodules import fashion_mnist_files as files
from experiments.engine import cli
from experiments.engine.threads import set_torch_threads

ROOT = Path(__file__).resolve().parents[1]
RUN = ROOT / "experiments" / "run.py"


def run_cli(*args: str, logdir: Path | None = None, timeout: float = 600, **kwargs):
    """`python experiments/run.py ARGS --logdir LOGDIR` in a subprocess; the finished process."""
    command = [sys.executable, str(RUN), *args]
    if logdir is not None:
        command += ["--logdir", str(logdir)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        command, cwd=kwargs.pop("cwd", ROOT), env=env, capture_output=True, text=True,
        timeout=timeout, **kwargs,
    )


def run_main(*args: str, logdir: Path | None = None) -> subprocess.CompletedProcess:
    """The same command line run in this process, what it printed captured: no new
    interpreter to start and no torch to import (7 s of each subprocess here). For what
    a process of its own shows (signals, DDP's re-launch, tracebacks), use run_cli."""
    argv = [*args, *(["--logdir", str(logdir)] if logdir is not None else [])]
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(argv)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def run_study(logdir: Path, experiment: str, *args: str) -> Path:
    """Run an experiment into `logdir` in process, insisting that it finishes (exit 0); its
    folder."""
    done = run_main(experiment, *args, logdir=logdir)
    assert done.returncode == 0, done.stderr
    return logdir / experiment


def scalars(run_folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag of a run folder as (step, value) pairs, read by TensorBoard itself."""
    events = EventAccumulator(str(run_folder), size_guidance={"scalars": 0})
    events.Reload()
    return {
        tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
    }


def numbers(result: dict) -> dict:
    """What a rerun or a rival process must reproduce: everything in a metrics.json but the
    wall time and the git commit (the source hash stays: the same code)."""
    kept = {k: v for k, v in result.items() if k != "seconds"}
    if "code" in kept:
        kept["code"] = kept["code"].get("source")
    return kept


def metrics(run_folder: Path) -> dict:
    return json.loads((run_folder / "metrics.json").read_text())


@pytest.fixture(scope="session", autouse=True)
def torch_threads():
    """Tests that train in this process use the threads run.py would: with one OpenMP
    thread per core, a loaded 2-core machine made a tiny MLP's step 20x slower."""
    set_torch_threads()


@pytest.fixture
def logdir(tmp_path: Path) -> Path:
    return tmp_path / "runs"


@pytest.fixture(scope="session")
def fashion_dir(tmp_path_factory) -> Path:
    """A data_dir holding Fashion-MNIST's verified raw files, prepared once (from data/ or
    the system copy). Without the data, the tests that need it fail saying how to get it;
    they never skip silently."""
    if files.raw_folder(ROOT / "data").exists():
        return files.prepare_raw_files(ROOT / "data").parents[1]
    if not files.SYSTEM_DIR.exists():
        pytest.fail(f"this test needs Fashion-MNIST: {files.INSTALL}, or run `make test`, "
                    "which installs it", pytrace=False)
    data_dir = tmp_path_factory.mktemp("data")
    files.prepare_raw_files(data_dir)
    return data_dir
