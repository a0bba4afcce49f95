"""The table of every kind in docs/tasks.md, rendered from the classes (a test keeps the page equal to it).

``python -m skillneuron_harness.perturbations.catalog`` prints it. Each row: the kind, its
docstring's first line, its parameters (name, default, what is allowed, help), the output of its
``example`` and its names in TextAttack, HELM, nlpaug or CheckList. Invisible characters and tabs
of an example are shown as ``\\u200b`` and ``\\t`` escapes.
"""

from __future__ import annotations

import dataclasses

from skillneuron_harness.core.escape import md_code, md_text
from skillneuron_harness.perturbations.base import EXAMPLE_SEED, KINDS, Step
from skillneuron_harness.perturbations.tables import ZERO_WIDTH


def visible(text: str) -> str:
    """``text`` with its invisible characters and tabs written as escapes."""
    for c in ZERO_WIDTH + "\t":
        text = text.replace(c, c.encode("unicode_escape").decode("ascii"))
    return text


def _params(cls: type[Step]) -> str:
    cells = []
    for f in dataclasses.fields(cls):
        default = list(f.default) if isinstance(f.default, tuple) else f.default
        shown = visible(repr(default)) if isinstance(default, (str, list)) else str(default)
        cells.append(f"{md_code(f.name, in_table=True)} = {md_code(shown, in_table=True)} "
                     f"({md_text(f.metadata['type'])}): {md_text(f.metadata['help'])}")
    return "<br>".join(cells) or "none"


def markdown_table() -> str:
    """The kinds table, preceded by the sentence every example starts from."""
    befores = {cls.example[0] for cls in KINDS.values()}
    shared = befores.pop() if len(befores) == 1 else None
    lines = []
    if shared is not None:
        lines += [f"Every example perturbs {md_code(shared)} with the defaults (seed {EXAMPLE_SEED}, "
                  f"document 0, field `text`).", ""]
    lines += ["| kind | what | parameters | example | elsewhere |", "|---|---|---|---|---|"]
    for name, cls in KINDS.items():
        before, after = cls.example
        example = md_code(visible(after), in_table=True)
        if shared is None:
            example = f"{md_code(visible(before), in_table=True)} → {example}"
        what = md_text((cls.__doc__ or "").strip().splitlines()[0])
        names = "; ".join(f"{md_text(k)}: {md_text(v)}" for k, v in cls.names.items()) or "—"
        lines.append(f"| {md_code(name, in_table=True)} | {what} | {_params(cls)} | {example} | {names} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
