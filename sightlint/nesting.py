"""How deeply nested a file's code is, asked before handing it to LibCST (data layer).

LibCST's native parser recurses once (or, for brackets, a few dozen times) per level of
nesting and runs out of stack, which kills the whole process with SIGSEGV instead of
raising. Measured with libcst 1.9.0 on Python 3.11 and an 8 MB stack, it crashes from:

- about 1,250 nested brackets (a syntax error, when LibCST is asked for the newer-Python hint);
- a chain of about 3,500 ``lambda:``, 5,500 ``a if b else``, 5,900 ``.b``, 6,900 ``+ a``,
  7,100 ``and a`` or ``()``, 8,100 unary ``-``;
- about 2,950 nested blocks.

The interpreter's own parser refuses more than 200 nested brackets and 100 indentation
levels (in every version since 3.9), so a file beyond those is no newer Python's either;
the chain limit is about a third of the lowest crash (:data:`MAX_CHAIN` counts tokens:
two per ``lambda:``, two per ``.b``, one per ``-``). The measure is :func:`too_nested`.
"""

from __future__ import annotations

import io
import tokenize

MAX_BRACKETS = 200
MAX_INDENT = 100
MAX_CHAIN = 2000
UNTOKENIZABLE = "the file cannot be tokenized"

# Tokens that separate sibling expressions: nesting does not accumulate across them...
_SEPARATORS = frozenset((",", ";"))
# ...unless a ``lambda`` or comprehension ``for`` opened before them in the same bracket
# (``lambda a, b: lambda a, b: ...`` nests at every comma).
_NESTING_KEYWORDS = frozenset(("lambda", "for"))
_OPEN, _CLOSE = frozenset("([{"), frozenset(")]}")
_LAYOUT = frozenset((tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING, tokenize.ENDMARKER))


def too_nested(text: str) -> str | None:
    """Why LibCST must not be given ``text`` (how it is too deeply nested, or
    :data:`UNTOKENIZABLE`), or None.

    An upper bound of LibCST's nesting: within one bracket, the tokens since the last
    separator, plus that counted for the brackets around it. It over-counts (``a + b``
    is three tokens for one level) and never under-counts what makes LibCST recurse.
    """
    found = beyond_libcst(text)
    return None if found is None else found[1]


def beyond_libcst(text: str, max_tokens: int | None = None) -> tuple[str, str] | None:
    """(kind, why) when LibCST must not be given ``text``: kind ``"untokenizable"``,
    ``"nested"`` (see :func:`too_nested`) or, with ``max_tokens``, ``"tokens"`` (more
    significant tokens than that: LibCST's time and memory grow with them, about 0.1-0.3 ms
    and 2-3 KB per token with libcst 1.9, so a 900 KB line of ``1, 1, ...`` takes minutes
    and gigabytes where 900 KB of ordinary code, a tenth of the tokens, takes seconds).
    """
    # A file with fewer significant characters than the limits cannot exceed them (every
    # token but DEDENT, ENDMARKER and a last NEWLINE has a character; a DEDENT closes an INDENT).
    if len(text) <= MAX_BRACKETS and text.count("\n") <= MAX_INDENT and (max_tokens is None or 2 * len(text) + 2 <= max_tokens):
        return None
    limit = max_tokens if max_tokens is not None else 2 * len(text) + 3  # no limit
    why = _measure(text, limit)
    if why is None:
        return None
    if why == UNTOKENIZABLE:
        return "untokenizable", why
    return ("tokens" if why.endswith(" tokens") else "nested"), why


def _measure(text: str, max_tokens: int) -> str | None:
    stack: list[tuple[int, int, int]] = []  # the enclosing brackets' (base, run, floor)
    base = run = floor = indent = tokens = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            kind = token.type
            tokens += 1
            if tokens > max_tokens:
                return f"more than {max_tokens:,} tokens"
            if kind in _LAYOUT:
                if kind == tokenize.INDENT:
                    indent += 1
                    if indent > MAX_INDENT:
                        return f"more than {MAX_INDENT} levels of indentation"
                elif kind == tokenize.DEDENT:
                    indent -= 1
                continue
            if kind == tokenize.NEWLINE:
                run = floor = 0
                continue
            value = token.string
            if kind == tokenize.OP:
                if value in _SEPARATORS:
                    run = floor
                    continue
                if value in _OPEN:
                    stack.append((base, run + 1, floor))
                    if len(stack) > MAX_BRACKETS:
                        return f"more than {MAX_BRACKETS} nested brackets"
                    base, run, floor = base + run + 1, 0, 0
                    continue
                if value in _CLOSE and stack:
                    base, run, floor = stack.pop()  # ``a()()()`` nests at every call
                    if base + run > MAX_CHAIN:
                        return f"an expression nested more than {MAX_CHAIN} levels deep"
                    continue
            elif kind == tokenize.STRING and "{" in value and _is_template(value):
                # Before Python 3.12 an f-string is one token: LibCST parses what its fields hold.
                if base + run + _in_fields(value) > MAX_CHAIN:
                    return f"an f-string field nested more than {MAX_CHAIN} levels deep"
            run += 1
            if kind == tokenize.NAME and value in _NESTING_KEYWORDS:
                floor = run
            if base + run > MAX_CHAIN:
                return f"an expression nested more than {MAX_CHAIN} levels deep"
    except (tokenize.TokenError, SyntaxError):
        return UNTOKENIZABLE
    return None


def _is_template(token: str) -> bool:
    """An f-string or t-string literal."""
    quote = min((i for i in (token.find("'"), token.find('"')) if i >= 0), default=0)
    return any(c in "fFtT" for c in token[:quote])


def _in_fields(token: str) -> int:
    """An upper bound of the nesting inside an f-string's fields: their characters that are
    neither letters, digits nor ``_`` (``{{`` outside a field is a literal brace)."""
    count = depth = index = 0
    while index < len(token):
        char = token[index]
        if depth == 0:
            if char == "{":
                if token.startswith("{{", index):
                    index += 2
                    continue
                depth = 1
        else:
            if char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
            if not (char.isalnum() or char == "_"):
                count += 1
        index += 1
    return count
