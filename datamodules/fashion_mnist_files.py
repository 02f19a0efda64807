"""Find, place and verify the four raw Fashion-MNIST files in torchvision's layout.

Sources, in order: `data_dir/FashionMNIST/raw/` (the files or their .gz), Debian's copy
from the package dataset-fashion-mnist, then torchvision's download. Every file lands in
`raw/` through a unique temporary name and `os.replace`, so two processes preparing at
once cannot corrupt it and a crash never leaves a half-written file there.
"""

import gzip
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from torchvision.datasets import FashionMNIST

# Tests monkeypatch this to pretend the package is not installed.
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")

# md5 and size of the decompressed files. Debian recompressed the .gz archives, so the
# archives' md5s (which torchvision checks) differ; the bytes inside do not.
FILES = {
    "train-images-idx3-ubyte": ("f4a8712d7a061bf5bd6d2ca38dc4d50a", 47040016),
    "train-labels-idx1-ubyte": ("9018921c3c673c538a1fc5bad174d6f9", 60008),
    "t10k-images-idx3-ubyte": ("8181f5470baa50b63fa0f6fddb340f0a", 7840016),
    "t10k-labels-idx1-ubyte": ("15d484375f8d13e6eb1aabb0c3f46965", 10008),
}
INSTALL = "sudo apt-get install dataset-fashion-mnist"
DELETE_AND_RETRY = "Delete it and run again."
REINSTALL = f"Reinstall the package: {INSTALL} --reinstall"


class CorruptDataError(RuntimeError):
    """A Fashion-MNIST file has the wrong size or md5."""


class DataUnavailableError(RuntimeError):
    """Fashion-MNIST is neither on disk nor downloadable."""


def raw_folder(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / "FashionMNIST" / "raw"


def prepare_raw_files(data_dir: str | os.PathLike) -> Path:
    """Make sure the four verified files are in `raw_folder(data_dir)`, and return it."""
    raw = raw_folder(data_dir)
    raw.mkdir(parents=True, exist_ok=True)
    missing = []
    for name in FILES:
        if (raw / name).exists():
            verified(raw / name)
        elif (raw / f"{name}.gz").exists():
            _install(name, gzip_path=raw / f"{name}.gz", raw=raw, fix=DELETE_AND_RETRY)
        elif (SYSTEM_DIR / f"{name}.gz").exists():
            _install(name, gzip_path=SYSTEM_DIR / f"{name}.gz", raw=raw, fix=REINSTALL)
        else:
            missing.append(name)
    if missing:
        _download(missing, raw)
    return raw


# (path) -> (inode, size, mtime) of files already checked: one md5 pass per file per process.
_verified: dict[Path, tuple[int, int, int]] = {}


def stamp(path: Path) -> tuple[int, int, int]:
    """What changes when the file does: (inode, size, mtime)."""
    stat = path.stat()
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def verified(path: Path) -> Path:
    """Return `path` after checking its md5 (once per process while the file is unchanged)."""
    if not path.exists():
        raise DataUnavailableError(f"{path} is missing; call prepare_data() first")
    key = stamp(path)
    if _verified.get(path) != key:
        _check(path.read_bytes(), path.name, where=path, fix=DELETE_AND_RETRY)
        _verified[path] = key
    return path


def _check(data: bytes, name: str, where: Path, fix: str) -> None:
    md5, size = FILES[name]
    found = hashlib.md5(data, usedforsecurity=False).hexdigest()
    if found != md5:
        raise CorruptDataError(
            f"{where} is corrupt: expected {name} with {size} bytes and md5 {md5}, "
            f"found {len(data)} bytes with md5 {found}. {fix}")


def _install(name: str, gzip_path: Path, raw: Path, fix: str) -> None:
    try:
        data = gzip.decompress(gzip_path.read_bytes())
    except (OSError, EOFError) as error:  # a truncated or damaged archive
        raise CorruptDataError(f"{gzip_path} cannot be decompressed ({error}). {fix}") from error
    _check(data, name, where=gzip_path, fix=fix)  # before it lands in raw/
    _write_atomically(raw / name, data)


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; others may share data/
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    stat = path.stat()
    _verified[path] = (stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _download(missing: list[str], raw: Path) -> None:
    # torchvision writes in place, so let it download into a private folder next to raw/.
    scratch = Path(tempfile.mkdtemp(dir=raw, prefix=".download-"))
    try:
        try:
            FashionMNIST(scratch, download=True)
        except (RuntimeError, OSError) as error:
            raise DataUnavailableError(
                f"Fashion-MNIST is not available (missing {', '.join(missing)}). Tried:\n"
                f"  1. {raw}/ (the files or their .gz)\n"
                f"  2. {SYSTEM_DIR}/*.gz (Debian's package dataset-fashion-mnist)\n"
                f"  3. torchvision's download, which failed: {error}\n"
                f"Fix: {INSTALL}  (or connect to the internet so torchvision can download it)"
            ) from error
        for name in missing:
            downloaded = raw_folder(scratch) / name
            data = downloaded.read_bytes()
            _check(data, name, where=downloaded, fix="Run again to download it afresh.")
            _write_atomically(raw / name, data)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
