"""Turn a file's bytes into the text the interpreter would read (data layer: no other imports)."""

from __future__ import annotations

import io
import tokenize


class SourceError(Exception):
    """A file that cannot be turned into text (binary, bad encoding)."""


def decode_source(data: bytes) -> str:
    """Decode Python source as the interpreter would: BOM, then the coding cookie, else UTF-8."""
    if b"\x00" in data:
        raise SourceError("binary file (contains NUL bytes), not Python source")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        detail = exc.msg if isinstance(exc.msg, str) else str(exc)
        raise SourceError(f"cannot determine the encoding (not UTF-8 and no valid coding cookie): {detail}") from None
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise SourceError(f"cannot decode as {encoding}: {exc}") from None
    # Universal newlines, as the interpreter reads source.
    return text.replace("\r\n", "\n").replace("\r", "\n")
