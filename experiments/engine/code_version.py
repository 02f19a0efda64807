"""Which code made a run: a hash of fitlab's source, and the git commit where there is one.

"A code change" is a change to any `.py` file of fitlab's packages (modules/, datamodules/,
members/, experiments/): what trains, scores and reports a run. A comment counts too (a hash cannot
tell it apart); the experiments' YAML does not, as its settings are compared one by one.
Reuse compares the source hash alone. The commit and whether the tree was dirty are
recorded for the reader: in a clone under development the tree is always dirty, and a
dirty flag would make every rerun look like a change, where the hash changes only when a
file does.
"""

import functools
import hashlib
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("modules", "datamodules", "members", "experiments")


def source_hash(root: Path) -> str:
    """12 hex digits of the SHA-256 of the packages' .py files under `root`: their paths
    and contents, in a fixed order."""
    digest = hashlib.sha256()
    for path in sorted(p for package in PACKAGES for p in (root / package).rglob("*.py")):
        digest.update(f"{path.relative_to(root).as_posix()}\0".encode())
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@functools.cache
def current() -> dict:
    """This process's code: {"source": hash} plus {"commit", "dirty"} in a git checkout."""
    version: dict = {"source": source_hash(ROOT)}
    if commit := git("rev-parse", "--short", "HEAD"):
        version["commit"] = commit
        version["dirty"] = bool(git("status", "--porcelain", "--", *PACKAGES))
    return version


def describe(version: dict) -> str:
    """`source 1a2b3c4d5e6f (commit 2227ec3, dirty)`."""
    commit = version.get("commit")
    where = f" (commit {commit}{', dirty' if version.get('dirty') else ''})" if commit else ""
    return f"source {version.get('source')}{where}"
