"""Atomic file writes: a temporary file in the target's folder, then ``os.replace``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(
    target: Path, content: bytes | tuple[bytes, ...], *, mode: int | None = None, suffix: str = ".sightlint-tmp"
) -> None:
    """Replace ``target`` with ``content`` (or its pieces, in order) so readers see the old
    file or the new one, never half.

    ``mode`` sets the new file's permission bits (``mkstemp`` creates it 0600).
    """
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            for piece in (content,) if isinstance(content, bytes) else content:
                handle.write(piece)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
