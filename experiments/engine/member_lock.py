"""Who may write a folder: one process at a time trains a member, or writes a study's files.

Two commands on one logdir (two terminals, a resubmitted job, overlapping job-array tasks)
would otherwise both train a member into one folder: event files of both side by side,
each overwriting the other's last.ckpt and metrics.json. So a process takes a member's
lock before it builds anything that writes there, and re-reads "finished?" once it has it.

The lock is `fcntl.flock` on `<experiment>/.<member>.lock`, beside the member's folder (so
`--overwrite` can move the folder away while the lock stays put). The kernel releases a
flock when its process dies, SIGKILL included, so a killed holder never leaves a member
locked. On NFS, Linux clients carry flock to the server as a POSIX lock (NLM for v3, the
protocol itself for v4), so tasks on different nodes exclude each other too. Where flock
is refused (ENOSYS: Lustre mounted without `flock`; ENOLCK: NFSv3 without a lock daemon;
some FUSE file systems) the fallback below takes over. Where it is accepted but binds one
node alone (NFS mounted `nolock` or `local_lock=all`, Lustre `localflock`), nothing can
tell: set FITLAB_LOCKS=files there.

The fallback, a lock file created with O_EXCL, holds `pid host`; its holder touches it
every HEARTBEAT seconds. It is stale, and taken over, when its pid is gone on this host,
or when its heartbeat is older than STALE (a holder on another node that died or hangs).

A lock file is removed by its holder while still holding it: a process that locked the
file just before that finds the name gone (or another file under it) and takes it anew.
Under DDP only rank 0 takes locks; the other ranks follow its decisions (`agreed`).
"""

import contextlib
import errno
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import torch.distributed
from lightning.pytorch.utilities import rank_zero_only

from experiments.engine.files import HOST
from experiments.engine.plan import Member

HEARTBEAT, STALE = 30.0, 300.0  # seconds (fallback only)
POLL = 0.5  # seconds between tries of a waiting fallback lock
# flock's answers that mean "not here": the file system does not lock files.
UNSUPPORTED = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


def lock_path(member: Member) -> Path:
    return member.folder.parent / f".{member.folder.name}.lock"


class FolderLock:
    """An exclusive lock on `path`: take() it, without waiting or waiting for it; release()."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None
        self.beating: threading.Event | None = None  # set to stop the fallback's heartbeat

    def take(self, wait: bool = False) -> bool:
        """Whether this process now holds the lock (always, when `wait`)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if flock_works(self.path.parent):
            return self.take_flock(wait)
        while not self.take_file():
            if not wait:
                return False
            time.sleep(POLL)
        return True

    def take_flock(self, wait: bool) -> bool:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                return False
            if self.is_still_named(fd):
                self.fd = fd
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()} {HOST}\n".encode())
                return True
            os.close(fd)  # its holder removed it as we locked it: take the file now named so

    def is_still_named(self, fd: int) -> bool:
        try:
            named = os.stat(self.path)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (named.st_dev, named.st_ino) == (mine.st_dev, mine.st_ino)

    def take_file(self) -> bool:
        """The fallback: create the lock file, or take over a stale one (once)."""
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                if (seen := self.stale()) is None:
                    return False
                with contextlib.suppress(OSError):
                    if self.path.read_text() == seen:  # nobody took it over since we looked
                        self.path.unlink()
                continue
            os.write(fd, f"{os.getpid()} {HOST}\n".encode())
            os.close(fd)
            self.beating = threading.Event()
            threading.Thread(target=self.heartbeat, args=(self.beating,), daemon=True).start()
            return True
        return False

    def stale(self) -> str | None:
        """A fallback lock file's text if its holder is gone, else None."""
        try:
            text, age = self.path.read_text(), time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return ""  # released meanwhile: free
        pid, _, host = text.strip().partition(" ")
        if age > STALE or (host == HOST and pid.isdigit() and not alive(int(pid))):
            return text
        return None

    def heartbeat(self, stop: threading.Event) -> None:
        while not stop.wait(HEARTBEAT):
            with contextlib.suppress(OSError):
                os.utime(self.path)

    def holder(self) -> str:
        """Who holds it, as its file says: `pid 123 on node7`."""
        with contextlib.suppress(OSError):
            pid, _, host = self.path.read_text().strip().partition(" ")
            if pid:
                return f"pid {pid} on {host}"
        return "another process"

    def release(self) -> None:
        if self.fd is None and self.beating is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # while still held: see the module's docstring
        if self.fd is not None:
            os.close(self.fd)  # closing the last descriptor releases the flock
        if self.beating is not None:
            self.beating.set()
        self.fd = self.beating = None


def flock_works(folder: Path) -> bool:
    """Whether flock locks files in `folder` (its file system, asked once per process):
    tried on a file of this process's own, so no lock file is left empty by a refusal.
    FITLAB_LOCKS=files says no, for file systems where flock binds one node alone."""
    if os.environ.get("FITLAB_LOCKS") == "files":
        return False
    device = folder.stat().st_dev
    if device not in _flock_works:
        probe = folder / f".flock.{os.getpid()}.probe"
        fd = os.open(probe, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _flock_works[device] = True
        except OSError as error:
            if error.errno not in UNSUPPORTED:
                raise
            _flock_works[device] = False
        finally:
            os.close(fd)
            probe.unlink()
    return _flock_works[device]


_flock_works: dict[int, bool] = {}  # st_dev -> whether flock works there


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextlib.contextmanager
def claim(experiment: str, members: list[Member], wait: bool
          ) -> Iterator[tuple[list[Member], list[Member]]]:
    """(the members this process now holds, the ones other processes hold), released on
    leaving. Each member held by another process is said in one line. Rank 0 alone locks:
    under DDP every rank gets all the members, and `agreed` settles what they train."""
    if rank_zero_only.rank != 0:
        yield members, []
        return
    mine, others = [], []
    with contextlib.ExitStack() as held:
        for member in members:  # in the plan's order: processes that wait cannot deadlock
            lock = FolderLock(lock_path(member))
            taken = lock.take()
            if not taken:
                then = "waiting for it" if wait else "left to it, and waited for at the end"
                print(f"  {experiment}/{member.name}: {lock.holder()} is training it; {then}",
                      flush=True)
                taken = wait and lock.take(wait=True)
            if taken:
                held.callback(lock.release)
                mine.append(member)
            else:
                others.append(member)
        yield mine, others


def agreed(members: list[Member], chosen: list[Member]) -> list[Member]:
    """Rank 0's `chosen` among `members` on every rank, once DDP's process group is up (the
    ranks read the folders at different times; they must train the same members). Before
    that, rank 0 waits for every member another process holds, so the others, started by
    its first fit, read the folders as rank 0 left them."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return chosen
    names = [[m.name for m in chosen]]
    torch.distributed.broadcast_object_list(names, src=0)
    return [m for m in members if m.name in names[0]]


@contextlib.contextmanager
def study_files(folder: Path) -> Iterator[None]:
    """While a study's files (summary, figures, index.md) are read and written: one process
    at a time, waiting for the other. Re-entrant in one thread (a summary draws its figures
    inline while it holds the lock); another thread of this process waits, like another
    process (the background drawing's callback)."""
    key = (folder, threading.get_ident())
    if rank_zero_only.rank != 0 or key in _held_here:
        yield
        return
    lock = FolderLock(folder / ".files.lock")
    lock.take(wait=True)
    _held_here.add(key)
    try:
        yield
    finally:
        _held_here.discard(key)
        lock.release()


_held_here: set[tuple[Path, int]] = set()
