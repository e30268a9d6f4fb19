"""Markdown tables, the one writer behind summary.md, formats.md and leaderboard.md."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

__all__ = ["markdown_cell", "markdown_table"]


def markdown_cell(text: str) -> str:
    """A cell's text with the characters that would break a Markdown table row escaped.

    Examples
    --------
    >>> markdown_cell("a|b"), markdown_cell("two\\nlines")
    ('a\\\\|b', 'two lines')
    """
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], fmt: Callable[[Any], str] = str) -> list[str]:
    """The lines of a Markdown table: header, rule, one line per row (cells through ``fmt``, then escaped).

    Examples
    --------
    >>> print("\\n".join(markdown_table(["function", "n"], [("a|b", 2)])))
    | function | n |
    |---|---|
    | a\\|b | 2 |
    """
    lines = ["| " + " | ".join(markdown_cell(str(c)) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(markdown_cell(fmt(v)) for v in row) + " |" for row in rows]
    return lines
