"""Checks of an experiment's options and prompt files, run before any model loads (and by ``--dry-run``).

A long run that fails at its 30th unit on a value that was wrong from the start wastes its first 29;
these checks read only the command line and the prompt files (each a few hundred kilobytes), so
``skillneuron replicate`` runs them on every plan, dry or not, and ``suppression-curve`` on its
options. Each returns the problems as one line each (empty: nothing wrong), naming the flag or the
file, what was expected and the fix.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path


def percent_problems(percents: Iterable[float], flag: str = "--percents") -> list[str]:
    """``--percents``: each a finite percentage of a layer's neurons in [0, 100]."""
    bad = [p for p in percents if not (math.isfinite(p) and 0 <= p <= 100)]
    if not bad:
        return []
    return [f"{flag} {' '.join(f'{p:g}' for p in bad)}: each value is a percentage of each layer's neurons in "
            f"[0, 100], e.g. {flag} 0 1 3 5."]


def fraction_problems(value: float, flag: str) -> list[str]:
    """A fraction of each layer's neurons in (0, 1], such as ``--top``."""
    if math.isfinite(value) and 0 < value <= 1:
        return []
    return [f"{flag} {value:g}: a fraction of each layer's neurons in (0, 1], e.g. {flag} 0.02 (2%)."]


def limit_problems(value, flag: str = "--limit") -> list[str]:
    """``--limit``: documents per task (>= 1) or a fraction of each task (< 1), as lm-eval reads it."""
    from skillneuron_harness.core.results import parse_limit

    try:
        parse_limit(value)
    except (TypeError, ValueError):
        return [f"{flag} {value}: a number of documents per task (>= 1) or a fraction of each task in (0, 1); "
                f"leave it out for all documents."]
    return []


def baseline_limit_problems(value, flag: str = "--sn-baseline-limit") -> list[str]:
    """``--sn-baseline-limit``: a positive number of training documents, or ``all``."""
    from skillneuron_harness.neurons.recorder import parse_baseline_limit

    try:
        parse_baseline_limit(value)
    except ValueError:
        return [f"{flag} {value}: a positive whole number of training documents, or all (the papers' setting)."]
    return []


def prompt_problems(files: Iterable[str | Path], model_paths: dict[str, str] | None = None) -> list[str]:
    """Each prompt file readable as ``prompt_tuned`` reads it, a [P, d] matrix of finite values.

    ``model_paths`` maps a prompt file to the base model it will run with: where that model is a local
    folder, its config says the width the prompt must have (read without loading any weights).
    """
    from skillneuron_harness.prompts.loading import PromptError, check_base_model, load_soft_prompt

    problems = []
    for file in dict.fromkeys(str(f) for f in files):
        try:
            prompt = load_soft_prompt(file)
        except PromptError as err:
            problems.append(str(err))
            continue
        model = (model_paths or {}).get(file)
        if model and Path(model).is_dir() and (Path(model) / "config.json").is_file():
            import transformers

            try:
                check_base_model(prompt, transformers.AutoConfig.from_pretrained(model), model)
            except PromptError as err:
                problems.append(str(err))
    return problems
