"""Turn a file's bytes into the text the interpreter would read (data layer: no other imports)."""

from __future__ import annotations

import io
import os
import re
import stat
import tokenize

DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024
# O_BINARY: Windows would translate line endings.
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)

_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class SourceError(Exception):
    """A file that cannot be turned into text (binary, bad encoding)."""


def quiet_source_warnings() -> None:
    """Silence the warnings Python's compiler gives about the code it reads (invalid escape
    sequences: ``SyntaxWarning`` from 3.12, ``DeprecationWarning`` before). They are about
    the analysed files, not about sightlint; and printed, they quote the file's line raw,
    terminal escape sequences included. For this process (the CLI) and its workers."""
    import warnings

    warnings.filterwarnings("ignore", category=SyntaxWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning, message=r"invalid (octal )?escape sequence")


def decode_source(data: bytes) -> str:
    """Decode Python source as the interpreter would: BOM, then the coding cookie, else UTF-8."""
    if b"\x00" in data:
        raise SourceError("binary file (contains NUL bytes), not Python source")
    # Most files: no BOM, no coding cookie in the two lines a cookie may sit on, valid UTF-8,
    # which is what ``detect_encoding`` would say. Anything else (a decoding error included:
    # its message is ``detect_encoding``'s) takes the full path.
    first = data.find(b"\n")
    second = data.find(b"\n", first + 1) if first >= 0 else -1
    if not data.startswith(b"\xef\xbb\xbf") and b"coding" not in (data if second < 0 else data[:second]):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text
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


def read_source(path: str | os.PathLike[str], limit: int = DEFAULT_MAX_FILE_SIZE) -> bytes | str:
    """A regular file's bytes, or why it was not read (a str): never blocks, never reads
    more than ``limit`` bytes.

    Opened without blocking (a FIFO with no writer would hang a plain ``open``) and
    checked on the open descriptor (no race with a rename, and no extra ``stat``): a
    FIFO, a device (``/dev/zero`` never ends), a socket or a folder is not read.
    """
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError as exc:
        return exc.strerror or str(exc)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            if stat.S_ISDIR(st.st_mode):
                return "is a directory"
            kind = next((name for test, name in _KINDS if test(st.st_mode)), "a special file")
            return f"not a regular file ({kind})"
        if st.st_size > limit:
            return _too_big(st.st_size, limit)
        # One read gets a regular file whole; the loop covers a file that grew since fstat.
        chunks = [os.read(fd, st.st_size + 1)]
        total = len(chunks[0])
        while chunks[-1] and total <= limit:
            chunks.append(os.read(fd, 65536))
            total += len(chunks[-1])
        if total > limit:
            return _too_big(total, limit)
        return chunks[0] if len(chunks) <= 2 else b"".join(chunks)
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        os.close(fd)


def _too_big(size: int, limit: int) -> str:
    return f"larger than max-file-size ({size_text(size)} > {size_text(limit)}); not checked"


def size_text(size: int) -> str:
    """A size for messages: bytes, KB or MB (powers of 1024), one decimal."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    return f"{size / 1024:.1f} KB" if size >= 1024 else f"{size} bytes"


# What only Python 2 wrote, as (pattern over the line of a syntax error, what to call it).
_PYTHON2 = tuple(
    (re.compile(pattern), name)
    for pattern, name in (
        (r"^\s*print\s+(?![\s(=.,)\[\]:;+*/%&|^<>!-]|$)", "a `print` statement"),
        (r"^\s*print\s*>>", "a `print >>file` statement"),
        (r"^\s*exec\s+[\"'\w]", "an `exec` statement"),
        (r"\bexcept\s+[\w.]+\s*,\s*[A-Za-z_]\w*\s*:", "`except E, name:`"),
        (r"^\s*raise\s+[\w.]+\s*,", "`raise E, message`"),
        (r"`", "backquotes"),
        (r"<>", "the `<>` operator"),
        (r"(?<![\w.])\d+[lL]\b", "a long integer literal (`10L`)"),
        (r"(?<![\w.])0\d+(?![\w.])", "an octal literal without `0o`"),
        (r"(?<!\w)[uU][rR][\"']", "a `ur''` string prefix"),
    )
)


def python2_marker(line: str) -> str | None:
    """What marks ``line`` (the line of a syntax error) as Python 2 code, or None."""
    return next((name for pattern, name in _PYTHON2 if pattern.search(line)), None)
