"""Option groups of lm-eval's ``model_args``: each option declared once, as a dataclass field.

A group (the soft prompt, ``skill_neurons`` + ``sn_*``, ``suppress`` + ``suppress_*``) is a
``@dataclass`` deriving from :class:`OptionGroup`. Its fields carry their ``model_args`` name
(``PREFIX + field name``, or ``metadata["arg"]``), the help text the README's tables are generated
from (``metadata["help"]``) and, where the default needs words, ``metadata["default"]``. Choices
are ``str`` enums. :meth:`OptionGroup.take` pops a group's keys out of the keyword arguments that
lm-eval's ``--model_args`` produced; ``__post_init__`` turns each value into its type with the
helpers below, whose errors name the argument, the value and what was expected::

    sn_top=abc: expected a number, e.g. sn_top=0.02.
    sn_baseline_limit=1.5: expected a whole number, e.g. sn_baseline_limit=1000.

lm-eval's parser (``handle_arg_string``) has already made ``"3"`` an int, ``"0.5"`` a float,
``"true"`` a bool and ``"None"`` None; values built by hand may still be strings. Both are
accepted, nothing is truncated. :func:`refuse_unknown` rejects keys no group and no host
keyword claims, with the valid keys and a did-you-mean. This module imports only the standard
library (and the package's error base), so that ``--help``-style tools and the README generator stay light.
"""

from __future__ import annotations

import difflib
import enum
import math
from collections.abc import Iterable
from dataclasses import MISSING, Field, fields
from typing import ClassVar

from skillneuron_harness.core.errors import SkillNeuronError


class ModelArgsError(SkillNeuronError):
    """A ``model_args`` value or key that cannot be used; the message names it and the fix."""


class StrEnum(str, enum.Enum):
    """A choice of an option: compares equal to its value, prints as its value."""

    def __str__(self) -> str:
        return self.value

    @classmethod
    def values(cls) -> tuple[str, ...]:
        return tuple(member.value for member in cls)


# ------------------------------------------------------------------ value parsing
def _example(arg: str, example) -> str:
    return f", e.g. {arg}={example}" if example is not None else ""


def as_str(arg: str, value) -> str | None:
    """A path or name; None stays None (``"None"`` was already turned into None by lm-eval).

    An empty value (``skill_neurons=,...``) is refused: as a path it would mean the current folder.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ModelArgsError(f"{arg}={value}: expected a path or name, not a true/false flag.")
    if not str(value).strip():
        raise ModelArgsError(f"{arg}={value}: the value is empty; give a path or name, or leave {arg}= out.")
    return str(value)


def as_float(arg: str, value, *, example=None) -> float:
    """A finite real number from a number or its text (NaN and infinities are refused)."""
    if isinstance(value, bool):
        raise ModelArgsError(f"{arg}={value}: expected a number{_example(arg, example)}.")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ModelArgsError(f"{arg}={value}: expected a number{_example(arg, example)}.") from None
    if not math.isfinite(number):
        raise ModelArgsError(f"{arg}={value}: expected a finite number{_example(arg, example)}; NaN and "
                             "infinities would make every score NaN.")
    return number


def as_int(arg: str, value, *, example=None) -> int:
    """A whole number from an int, a whole float or their text; a fraction is refused rather than truncated.

    A whole float is taken: lm-eval 0.5 parses ``--model_args suppress_seed=-1`` into ``-1.0``.
    """
    if isinstance(value, bool):
        raise ModelArgsError(f"{arg}={value}: expected a whole number{_example(arg, example)}.")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if number.is_integer():
        return int(number)
    raise ModelArgsError(f"{arg}={value}: expected a whole number{_example(arg, example)}; "
                         "fractions are not rounded.")


#: Seeds are whole numbers in [0, 2^63): what torch's generators and every int64 field can hold.
SEED_MAX = 2**63 - 1


def as_seed(arg: str, value, *, example=0) -> int:
    """A random seed: a whole number in [0, :data:`SEED_MAX`]."""
    seed = as_int(arg, value, example=example)
    if not 0 <= seed <= SEED_MAX:
        raise ModelArgsError(f"{arg}={seed}: a seed is a whole number from 0 to 2^63-1 ({SEED_MAX}), e.g. "
                             f"{arg}={example}.")
    return seed


def as_choice(arg: str, value, choices: type[StrEnum], what: str | None = None) -> StrEnum:
    """One of the enum's values (its text); ``what`` names the kind of value in the error."""
    try:
        return choices(str(value))
    except ValueError:
        close = difflib.get_close_matches(str(value), choices.values(), n=1)
        hint = f" Did you mean {arg}={close[0]}?" if close else ""
        unknown = f"unknown {what}; " if what else ""
        raise ModelArgsError(f"{arg}={value}: {unknown}use one of {', '.join(choices.values())}.{hint}") from None


# ------------------------------------------------------------------ groups
class OptionGroup:
    """Base of a ``model_args`` group (a dataclass); see the module docstring."""

    PREFIX: ClassVar[str] = ""
    #: The argument that switches the group on (its first field); None: the group is always there.
    SWITCH: ClassVar[str | None] = None

    @classmethod
    def arg_name(cls, f: Field) -> str:
        """The ``model_args`` key of field ``f``."""
        return f.metadata.get("arg") or f"{cls.PREFIX}{f.name}"

    @classmethod
    def arg_names(cls) -> dict[str, str]:
        """``model_args`` key -> field name, in declaration order."""
        return {cls.arg_name(f): f.name for f in fields(cls)}  # type: ignore[arg-type]

    @classmethod
    def take(cls, kwargs: dict):
        """Pop this group's keys out of ``kwargs``; the group, or None when its switch is absent."""
        given = {arg: kwargs.pop(arg) for arg in list(cls.arg_names()) if arg in kwargs}
        if cls.SWITCH is not None and given.get(cls.SWITCH) is None:
            others = sorted(a for a in given if a != cls.SWITCH and given[a] is not None)
            if others:
                raise ModelArgsError(f"{', '.join(others)} given without {cls.SWITCH}=, which they configure; "
                                     f"pass {cls.SWITCH}=... or drop them.")
            return None
        names = cls.arg_names()
        return cls(**{names[arg]: value for arg, value in given.items()})

    @classmethod
    def help_rows(cls) -> list[tuple[str, str, str]]:
        """(argument, default, meaning) per field, for the README's tables."""
        rows = []
        for f in fields(cls):  # type: ignore[arg-type]
            if f.metadata.get("hidden"):
                continue
            if "default" in f.metadata:
                default = f.metadata["default"]
            elif f.default is MISSING or f.default is None:
                default = "none"
            else:
                default = f"`{f.default}`"
            rows.append((f.metadata.get("label", cls.arg_name(f)), default, f.metadata["help"]))
        return rows


def markdown_table(rows: Iterable[tuple[str, str, str]]) -> str:
    """A README table of (argument, default, meaning) rows; arguments in backticks unless already marked up."""
    lines = ["| argument | default | meaning |", "|---|---|---|"]
    for arg, default, meaning in rows:
        name = arg if "`" in arg else f"`{arg}`"
        lines.append(f"| {name} | {default} | {meaning} |")
    return "\n".join(lines)


def refuse_unknown(keys: Iterable[str], valid: Iterable[str], *, model: str, shown: Iterable[str] = ()) -> None:
    """Raise :class:`ModelArgsError` for keys outside ``valid``, listing ``shown`` and a close match."""
    valid = set(valid)
    unknown = sorted(k for k in keys if k not in valid)
    if not unknown:
        return
    listed = sorted(shown) or sorted(valid)
    parts = []
    for key in unknown:
        close = difflib.get_close_matches(key, sorted(valid), n=1, cutoff=0.6)
        parts.append(f"{key}= (did you mean {close[0]}=?)" if close else f"{key}=")
    raise ModelArgsError(
        f"--model {model}: unknown model_args {', '.join(parts)}. Valid: {', '.join(listed)}, and the "
        f"keywords of lm-eval's hf model (batch_size, device, dtype, trust_remote_code, ...)."
    )


# ------------------------------------------------------------------------------ command lines
_CLI_TYPES = {"int": int, "float": float, "str": str}


def add_arguments(parser, cls) -> None:
    """One ``--flag`` per field of the dataclass ``cls``, with its default, type, choices and help.

    A field's metadata may give ``help``, ``choices``, ``flag`` (instead of ``--field-name``),
    ``aliases`` and, for a ``bool``, ``flag_help``: a bool defaulting to True becomes a
    ``store_false`` flag (``--no-field-name`` unless ``flag`` names another), one defaulting to
    False a ``store_true`` flag. Lists are repeatable flags. The defaults are the dataclass's own,
    so a command line cannot drift from the config it fills.
    """
    for f in fields(cls):
        meta, kind = f.metadata, str(f.type).replace(" ", "")
        if f.default is not MISSING:
            default = f.default
        elif f.default_factory is not MISSING:
            default = f.default_factory()
        else:
            default = MISSING
        name = f.name.replace("_", "-")
        if kind == "bool":
            flag = meta.get("flag") or (f"--no-{name}" if default else f"--{name}")
            parser.add_argument(flag, *meta.get("aliases", ()), dest=f.name,
                                action="store_false" if default else "store_true",
                                help=meta.get("flag_help", meta.get("help", "")))
            continue
        kwargs = {"dest": f.name, "help": meta.get("help", "")}
        if default is MISSING:
            kwargs["required"] = True
        else:
            kwargs["default"] = default
        if kind.startswith("list["):
            kwargs.update(action="append", type=_CLI_TYPES[kind[5:-1]], help=kwargs["help"] + " Repeatable.")
        else:
            kwargs["type"] = _CLI_TYPES[kind.split("|")[0]]
        if "choices" in meta:
            kwargs["choices"] = meta["choices"]
        parser.add_argument(meta.get("flag") or f"--{name}", *meta.get("aliases", ()), **kwargs)
