"""Files that are whole or absent: what a crash or a full disk may never leave half-written."""

import os
import socket
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
