"""Text from Azure (names, tags, reasons, evidence) printed as data, never as markup or escapes.

Anyone who can name a resource, set a tag or a property value chooses text that phiguard later
prints to an administrator's terminal. Every human output goes through this module:

* :func:`inert` renders control characters visibly instead of sending them: C0 (ESC, CR, BS,
  BEL, NUL, ... also LF and TAB), DEL, C1 (U+0080–U+009F, CSI U+009B included) as ``\\x1b``, and
  the Unicode bidi controls (U+061C, U+200E/U+200F, U+202A–U+202E, U+2066–U+2069) and line /
  paragraph separators (U+2028/U+2029) as ``\\u202e``. An ANSI CSI or OSC sequence (clear the
  screen, a hidden hyperlink, a window title) or a right-to-left override can then neither act
  nor hide text.
* :func:`markup` is :func:`inert` with Rich markup escaped, to embed data in a markup string;
  :func:`text` makes a Rich ``Text`` (never parsed for markup) with a style.
* :func:`console` is the only way the CLI builds a Rich console: emoji codes (``:warning:``) are
  not replaced, so they too print as typed.
* :func:`csv_cell` is :func:`inert` plus the OWASP CSV-injection guard: a cell starting with
  ``=``, ``+``, ``-``, ``@``, TAB or CR (or their full-width forms) gets a leading ``'`` so a
  spreadsheet shows it as text instead of evaluating a formula.

JSON output is not passed through here: it stays faithful (``json.dumps`` escapes control and
non-ASCII characters itself).
"""

from __future__ import annotations

import re
from typing import IO, Any

from rich.console import Console
from rich.markup import escape as _escape_markup
from rich.text import Text

# Rendered visibly: C0, DEL, C1; bidi embedding/override/isolate controls and marks; the Unicode
# line and paragraph separators (some terminals break lines on them).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def inert(value: object) -> str:
    """``value`` as a string with every control character shown as an escape, not sent."""
    return _UNSAFE.sub(_visible, value if isinstance(value, str) else str(value))


def markup(value: object) -> str:
    """``value`` made inert and escaped for embedding in a Rich markup string."""
    return _escape_markup(inert(value))


def text(value: object, style: str = "") -> Text:
    """A Rich ``Text`` of ``value`` made inert; Rich never parses it for markup."""
    return Text(inert(value), style=style)


def csv_cell(value: object) -> str:
    """A CSV cell: inert, and a leading ``'`` where a spreadsheet would start a formula."""
    cell = "" if value is None else inert(value)
    # inert() has already turned TAB and CR into visible escapes; the check stays for clarity.
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def one_line(value: object, limit: int = 400) -> str:
    """An inert single line (an error message for stderr): lines joined, long text cut."""
    parts = [p.strip() for p in str(value).splitlines() if p.strip()]
    joined = " | ".join(parts)
    if len(joined) > limit:
        joined = joined[: limit - 1] + "…"
    return inert(joined)


def console(*, stderr: bool = False, file: IO[str] | None = None, **options: Any) -> Console:
    """The CLI's Rich console: no emoji replacement, no automatic highlighting of data."""
    options.setdefault("highlight", False)
    return Console(stderr=stderr, file=file, emoji=False, **options)
