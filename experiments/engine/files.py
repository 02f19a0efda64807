"""Files that are whole or absent: what a crash or a full disk may never leave half-written."""

import os
import socket
import tempfile
from pathlib import Path

HOST = socket.gethostname()


def write_atomically(path: Path, data: str | bytes) -> None:
    """Write to a temporary name, then rename: a crash never leaves half a file. The name
    is the writer's own (host and pid), as processes on several nodes share a logdir."""
    tmp = path.with_name(f".{path.name}.{HOST}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:  # e.g. the disk filled up: leave no half-written temporary behind
        tmp.unlink(missing_ok=True)
        raise


def cannot_write(folder: Path) -> str | None:
    """Why files cannot be written in `folder` (or in the folder it would be made in), or
    None: really writing, as permission bits do not bind root and read-only mounts or
    /proc bind everyone."""
    existing = next((p for p in [folder, *folder.parents] if p.exists()), Path("."))
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    try:
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as error:
        return f"cannot write in {existing} ({error.strerror})"
    return None
