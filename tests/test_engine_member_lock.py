"""member_lock: a lock excludes a second holder (flock binds open files, so two in one
process exclude each other as two processes do), is free once released or once its holder
is killed, and the pid/host fallback takes over a stale lock and no other. Then (slow) two
processes on one logdir, for real: each member trained once, as alone; a killed holder's
member taken over and resumed; reports that race write one consistent summary."""

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from conftest import ROOT, RUN, metrics, numbers, run_main, run_study, scalars

from experiments.engine import member_lock
from experiments.engine.headline import read_headline
from experiments.engine.member_lock import FolderLock


@pytest.fixture(params=["flock", "files"])
def mode(request, monkeypatch):
    """Each test once with flock and once with the fallback's lock files."""
    if request.param == "files":
        monkeypatch.setenv("FITLAB_LOCKS", "files")
    else:
        monkeypatch.delenv("FITLAB_LOCKS", raising=False)
    return request.param


def test_a_taken_lock_is_refused_to_a_second_taker_until_released(tmp_path, mode):
    path = tmp_path / "study" / ".member.lock"
    first, second = FolderLock(path), FolderLock(path)
    assert first.take()
    assert not second.take()
    assert second.holder() == f"pid {os.getpid()} on {socket.gethostname()}"
    first.release()
    assert not path.exists()  # nothing left behind in the study's folder
    assert second.take()
    second.release()
    assert list(tmp_path.rglob("*")) == [tmp_path / "study"]


def test_a_waiting_taker_gets_the_lock_its_holder_releases_and_excludes_a_third(
        tmp_path, mode, monkeypatch):
    monkeypatch.setattr(member_lock, "POLL", 0.01)
    path = tmp_path / ".member.lock"
    holder, waiter = FolderLock(path), FolderLock(path)
    assert holder.take()
    waited = threading.Thread(target=waiter.take, kwargs={"wait": True})
    waited.start()
    time.sleep(0.2)
    assert waited.is_alive()  # still waiting
    holder.release()  # removes the file while holding it: the waiter must take a new one
    waited.join(timeout=10)
    assert not waited.is_alive()
    # Had the waiter kept the lock of the removed file, a third would now take a new one.
    assert not FolderLock(path).take()
    waiter.release()


def test_the_os_frees_a_killed_holders_flock(tmp_path, monkeypatch):
    monkeypatch.delenv("FITLAB_LOCKS", raising=False)
    path = tmp_path / ".member.lock"
    holding = ("import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT);"
               "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", holding, str(path)], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline() == "held\n"
        assert not FolderLock(path).take()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    lock = FolderLock(path)
    assert lock.take()  # its file is still there; its lock is not
    lock.release()


def write_lock_file(path, pid, host, age: float = 0.0):
    path.write_text(f"{pid} {host}\n")
    if age:
        then = time.time() - age
        os.utime(path, (then, then))


def test_the_fallback_takes_over_the_lock_of_a_dead_process_on_this_host(tmp_path, monkeypatch):
    monkeypatch.setenv("FITLAB_LOCKS", "files")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    path = tmp_path / ".member.lock"
    write_lock_file(path, gone.pid, socket.gethostname())
    lock = FolderLock(path)
    assert lock.take()
    assert path.read_text() == f"{os.getpid()} {socket.gethostname()}\n"
    lock.release()


def test_the_fallback_leaves_a_live_holder_and_a_fresh_one_elsewhere_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("FITLAB_LOCKS", "files")
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        here, elsewhere = tmp_path / ".here.lock", tmp_path / ".elsewhere.lock"
        write_lock_file(here, alive.pid, socket.gethostname(), age=member_lock.STALE / 2)
        write_lock_file(elsewhere, 1, "another-node", age=member_lock.STALE / 2)
        assert not FolderLock(here).take()
        assert not FolderLock(elsewhere).take()  # its pid means nothing here: its age counts
        assert FolderLock(elsewhere).holder() == "pid 1 on another-node"
    finally:
        alive.kill()
        alive.wait()


def test_the_fallback_takes_over_a_lock_whose_heartbeat_stopped(tmp_path, monkeypatch):
    monkeypatch.setenv("FITLAB_LOCKS", "files")
    path = tmp_path / ".member.lock"
    write_lock_file(path, 1, "another-node", age=member_lock.STALE + 60)
    lock = FolderLock(path)
    assert lock.take()
    lock.release()


def test_the_fallbacks_holder_keeps_its_lock_fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("FITLAB_LOCKS", "files")
    monkeypatch.setattr(member_lock, "HEARTBEAT", 0.05)
    path = tmp_path / ".member.lock"
    lock = FolderLock(path)
    assert lock.take()
    then = time.time() - 1000
    os.utime(path, (then, then))
    # A heartbeat is due every 0.05 s; wait for the first however slow the machine is.
    deadline = time.monotonic() + 60
    while path.stat().st_mtime <= then + 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert time.time() - path.stat().st_mtime < 60
    lock.release()


def test_study_files_is_reentrant_in_one_thread_and_excludes_another(tmp_path, mode, monkeypatch):
    monkeypatch.setattr(member_lock, "POLL", 0.01)
    entered = []

    def other_thread():
        with member_lock.study_files(tmp_path):
            entered.append(time.perf_counter())

    with member_lock.study_files(tmp_path):
        with member_lock.study_files(tmp_path):  # a summary that draws its figures inline
            pass
        other = threading.Thread(target=other_thread)
        other.start()
        time.sleep(0.2)
        assert entered == []  # the background drawing's callback waits
        left = time.perf_counter()
    other.join(timeout=10)
    assert len(entered) == 1 and entered[0] >= left
    assert list(tmp_path.iterdir()) == []


# Two processes on one logdir, for real: experiments/run.py in subprocesses (slow tier).

QUIET = ["--trainer.enable_progress_bar", "false"]
# The book's polynomial member with 3 seeds: one stacked group of ~7 s, so two processes
# started together meet while it trains.
GROUP = ["polynomial", "--study.member", "book_normal", "--study.seeds", "3", *QUIET]
SEEDS = [f"book_normal,seed={k}" for k in range(3)]
# One member of ~10 s, checkpointed as it goes: a holder to kill mid-way.
LONG = ["linear_regression", "--study.member", "scratch", "--trainer.max_epochs", "40", *QUIET]


def start(*args: str, logdir: Path) -> subprocess.Popen:
    command = [sys.executable, str(RUN), *args, "--logdir", str(logdir)]
    return subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> subprocess.CompletedProcess:
    out, err = process.communicate(timeout=600)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def finished(*processes: subprocess.Popen) -> list[subprocess.CompletedProcess]:
    """Each one's outcome, insisting that it exited 0."""
    done = [finish(process) for process in processes]
    for outcome in done:
        assert outcome.returncode == 0, outcome.stderr
    return done


def writer_pids(folder: Path) -> set[str]:
    """The process ids in the event files' names (events.out.tfevents.TIME.HOST.PID.N)."""
    return {path.name.split(".")[-2] for path in folder.glob("events.out.tfevents.*")}


def assert_trained_once(study: Path, alone: Path, members: list[str]) -> None:
    """Each member's folder holds one process's training, with a solo run's numbers."""
    for name in members:
        folder = study / name
        assert numbers(metrics(folder)) == numbers(metrics(alone / name)), name
        assert len(writer_pids(folder)) == 1, sorted(folder.glob("events.out.tfevents.*"))
        assert (folder / "config.yaml").exists() and (folder / "checkpoints" / "last.ckpt").exists()
    assert not list(study.glob(".*"))  # no lock file, group checkpoint or temporary left


@pytest.fixture(scope="module")
def solo(tmp_path_factory) -> Path:
    """The runs the races must reproduce, each trained alone (in this process)."""
    logdir = tmp_path_factory.mktemp("solo")
    run_study(logdir, *GROUP)
    run_study(logdir, "polynomial", "--study.member", "book_underfit", "--study.seeds", "2", *QUIET)
    run_study(logdir, *LONG)
    return logdir


@pytest.mark.slow
def test_two_processes_started_together_train_each_seed_of_a_group_once(solo, tmp_path):
    both = [start(*GROUP, logdir=tmp_path) for _ in range(2)]
    finished(*both)
    assert_trained_once(tmp_path / "polynomial", solo / "polynomial", SEEDS)
    pids = {str(process.pid) for process in both}
    assert all(writer_pids(tmp_path / "polynomial" / name) <= pids for name in SEEDS)


@pytest.mark.slow
def test_overlapping_tasks_of_a_job_array_train_each_member_once(solo, tmp_path):
    array = ["polynomial", "--study.seeds", "2", *QUIET]
    # Tasks 0 and 1, and task 1 submitted a second time while the first still runs.
    finished(*(start(*array, "--study.member", index, logdir=tmp_path) for index in "011"))
    members = [f"{name},seed={k}" for name in ("book_underfit", "book_normal") for k in range(2)]
    assert_trained_once(tmp_path / "polynomial", solo / "polynomial", members)
    report = run_main(*array, "--study.report_only", "true", logdir=tmp_path)
    assert report.returncode == 0, report.stderr
    summary = json.loads((tmp_path / "polynomial" / "summary.json").read_text())
    assert [row["member"] for row in summary] == ["book_underfit", "book_normal"]


@pytest.mark.slow
def test_a_member_another_process_holds_is_left_to_it_and_reused_once_it_finished(
        solo, tmp_path):
    study, alone = tmp_path / "polynomial", solo / "polynomial"
    other = FolderLock(study / ".book_normal,seed=1.lock")  # this test plays the other process
    assert other.take()
    process = start(*GROUP, logdir=tmp_path)
    try:
        lines = [process.stdout.readline()]
        held = f"  polynomial/book_normal,seed=1: pid {os.getpid()} on {socket.gethostname()} " \
               "is training it; "
        assert lines == [held + "left to it, and waited for at the end\n"]
        while not lines[-1].endswith("waiting for it\n"):  # the others trained, as one group
            lines.append(process.stdout.readline())
            assert lines[-1], process.stderr.read()
        assert lines[1:] == ["[1/3] polynomial/book_normal,seed=0 … book_normal,seed=2 "
                             "(2 together) · 0:00:00 elapsed\n", held + "waiting for it\n"]
        assert not (study / "book_normal,seed=1").exists()  # nothing written where not held
        # The other process finishes the member, then lets go.
        shutil.copytree(alone / "book_normal,seed=1", study / "book_normal,seed=1")
    finally:
        other.release()
    out = finished(process)[0].stdout
    assert f"finished earlier (completed): reusing {study / 'book_normal,seed=1'}" in out
    assert_trained_once(study, alone, SEEDS)  # seed 1 is its solo run, untouched
    assert writer_pids(study / "book_normal,seed=1") == writer_pids(alone / "book_normal,seed=1")


def saved_epoch(checkpoint: Path) -> int:
    """The 0-based epoch of last.ckpt, -1 while there is none."""
    with contextlib.suppress(FileNotFoundError, EOFError, RuntimeError):
        return torch.load(checkpoint, weights_only=True)["epoch"]
    return -1


@pytest.mark.slow
def test_a_killed_holders_member_is_taken_over_and_resumed_from_its_checkpoint(solo, tmp_path):
    both = {str(process.pid): process for process in
            (start(*LONG, logdir=tmp_path) for _ in range(2))}
    study = tmp_path / "linear_regression"
    lock, checkpoint = study / ".scratch.lock", study / "scratch" / "checkpoints" / "last.ckpt"
    while (pid := FolderLock(lock).holder().split()[1]) not in both:  # "pid N on H"
        time.sleep(0.01)
    holder = both.pop(pid)
    (waiter,) = both.values()
    assert "is training it; left to it" in waiter.stdout.readline()
    assert "is training it; waiting for it" in waiter.stdout.readline()
    while saved_epoch(checkpoint) < 1:
        assert holder.poll() is None, holder.stderr.read()
        time.sleep(0.01)
    holder.kill()
    assert holder.wait() == -signal.SIGKILL
    finished(waiter)
    folder = study / "scratch"
    assert numbers(metrics(folder)) == numbers(metrics(solo / "linear_regression" / "scratch"))
    # It went on from the holder's last.ckpt, not from scratch.
    def epochs(pid: int | str) -> list[int]:
        return [step for events in folder.glob(f"events.out.tfevents.*.{pid}.*")
                for step, _ in scalars(events).get("train/loss", [])]

    assert 2 <= min(epochs(waiter.pid)) <= max(epochs(pid)) + 1
    assert not list(study.glob(".*"))


def table_members(summary_md: str) -> set[str]:
    """The members in summary.md's table rows."""
    return set(re.findall(r"^\| (\w+) \|", summary_md, re.MULTILINE)) - {"member"}


@pytest.mark.slow
def test_reports_racing_each_other_and_a_member_write_one_consistent_summary(tmp_path):
    run_study(tmp_path, "linear_regression", "--study.member", "scratch", *QUIET)
    report = ["linear_regression", "--study.report_only", "true", *QUIET]
    finished(start(*report, logdir=tmp_path), start(*report, logdir=tmp_path),
             start("linear_regression", "--study.member", "concise", *QUIET, logdir=tmp_path))
    study = tmp_path / "linear_regression"
    rows = json.loads((study / "summary.json").read_text())
    members, summary_md = {row["member"] for row in rows}, (study / "summary.md").read_text()
    assert table_members(summary_md) == members  # summary.json and .md of one read
    assert ("Not finished yet: concise" in summary_md) == (members == {"scratch"})
    found = read_headline(study)  # and index.md's row says what the study's files say
    assert f"| linear_regression | 8 | {found.ours} | {found.book} |" in (
        tmp_path / "index.md").read_text()
    assert not list(study.glob(".*")) and not list(tmp_path.glob(".*"))


@pytest.mark.slow
def test_a_run_with_other_settings_put_there_while_waiting_is_left_alone(solo, tmp_path):
    study, theirs = tmp_path / "linear_regression", solo / "linear_regression" / "scratch"
    other = FolderLock(study / ".scratch.lock")
    assert other.take()
    process = start("linear_regression", "--study.member", "scratch", *QUIET, logdir=tmp_path)
    try:
        assert "left to it" in process.stdout.readline()
        assert "waiting for it" in process.stdout.readline()
        # The other process, given --overwrite and 40 epochs, replaced the run meanwhile.
        shutil.copytree(theirs, study / "scratch")
    finally:
        other.release()
    done = finish(process)
    assert done.returncode == 1
    assert (f"failed: linear_regression/scratch: {study / 'scratch'}: another process put a "
            "run with other settings there meanwhile") in done.stderr
    assert metrics(study / "scratch") == metrics(theirs)  # theirs, untouched
    assert writer_pids(study / "scratch") == writer_pids(theirs)
