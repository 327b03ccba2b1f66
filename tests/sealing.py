"""Reading and writing sealed cache files as the tests forge them.

Most cache files are sealed whole (``seal.MAGIC``, the tag, the body). A pack is sealed by
its head (``seal.HEAD_MAGIC``, the tag, the head's length, the head, then the entries):
its head is the index ``(format, token, tag, {key: (offset, length, digest, content
digest, summary's module)})`` and each entry is marshalled apart. The tests think of a pack in its
*logical* form, the marshalled ``(format, token, tag, {key: entry})`` a pack held whole
before, and these functions turn one into the other.
"""

from __future__ import annotations

import hashlib
import marshal
from pathlib import Path
from typing import Any

from sightlint.seal import HEAD_HEADER_SIZE, HEAD_MAGIC, HEADER_SIZE, MAGIC, TAG_SIZE, Seal


def indexed(data: bytes) -> bool:
    return data.startswith(HEAD_MAGIC)


def logical(data: bytes) -> bytes:
    """The body of a cache file's contents ``data``: for a pack, its logical form."""
    if data.startswith(MAGIC):
        return data[HEADER_SIZE:]
    assert indexed(data), data[:40]
    length = int.from_bytes(data[HEAD_HEADER_SIZE - 8 : HEAD_HEADER_SIZE], "little")
    start = HEAD_HEADER_SIZE + length
    fmt, token, tag, index = marshal.loads(data[HEAD_HEADER_SIZE:start])
    entries = {key: marshal.loads(data[start + offset : start + offset + size]) for key, (offset, size, *_) in index.items()}
    return marshal.dumps((fmt, token, tag, entries))


def layout(body: bytes) -> tuple[bytes, bytes]:
    """(head, data) of a pack whose logical form is ``body``; a body of another shape is
    all head (what a bug of ours could write)."""
    try:
        fmt, token, tag, entries = marshal.loads(body)
        assert isinstance(entries, dict)
    except Exception:
        return body, b""
    index: dict[Any, Any] = {}
    pieces: list[bytes] = []
    offset = 0
    for key, value in entries.items():
        raw = marshal.dumps(value)
        content = value[0] if isinstance(value, tuple) and value else b""
        module = value[3] if isinstance(value, tuple) and len(value) == 4 and isinstance(value[3], str) else None
        index[key] = (offset, len(raw), hashlib.sha256(raw).digest()[:16], content, module)
        pieces.append(raw)
        offset += len(raw)
    return marshal.dumps((fmt, token, tag, index)), b"".join(pieces)


def sealed(seal: Seal, name: str, body: bytes, *, pack: bool) -> bytes:
    """The contents of a cache file called ``name`` holding ``body`` (a pack's logical form
    if ``pack``), sealed with ``seal``."""
    if not pack:
        return seal.seal(name, body)
    head, data = layout(body)
    return seal.head_header(name, head) + head + data


def behind_old_seal(old: bytes, body: bytes, *, pack: bool) -> bytes:
    """``body`` (logical) behind the header ``old`` contents had: a forger keeping the seal."""
    if not pack:
        return old[:HEADER_SIZE] + body
    head, data = layout(body)
    return old[: len(HEAD_MAGIC) + TAG_SIZE] + len(head).to_bytes(8, "little") + head + data
