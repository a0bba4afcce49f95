"""Every entry of a spec checked before the first unit runs: model, ``model_args``, the files they name.

A spec whose third entry names a model path that does not exist used to run the first two entries
(minutes to hours) before failing. :func:`check_entries` asks, for every entry, what lm-eval would
refuse at the start of ``lm_eval --model M --model_args ARGS`` (an unknown model name; for
``prompt_tuned`` a misspelled key, a bad value, a missing or unreadable prompt or neuron file; for
every model a ``pretrained=`` that can be neither a local folder nor a Hub id), loading no model.
Every problem is reported at once, one line each, naming the spec file and the entry.
"""

from __future__ import annotations

from pathlib import Path

from skillneuron_harness.leaderboard.spec import Spec, SpecError
from skillneuron_harness.leaderboard.units import NEURONS


def entry_problems(spec: Spec, out: Path) -> list[str]:
    """One line per entry that cannot run (empty: every entry can start)."""
    from skillneuron_harness.core.errors import SkillNeuronError
    from skillneuron_harness.host.evaluate import check_model
    from skillneuron_harness.prompts import load_soft_prompt

    problems = []
    for i, entry in enumerate(spec.entries):
        where = f"{spec.source}: entries[{i}] ('{entry.label}')"
        extra = {"skill_neurons": str(out / NEURONS / entry.slug)} if entry.skill_neurons else {}
        try:
            check_model(entry.model, entry.args_string(extra))
            if entry.model == "prompt_tuned" and entry.model_args.get("prompt"):  # read as the run will read it
                load_soft_prompt(entry.model_args["prompt"],
                                 format=entry.model_args.get("prompt_format", "auto"))
        except (SkillNeuronError, ValueError) as err:
            problems.append(f"{where}: {err}")
    return problems


def check_entries(spec: Spec, out: Path) -> None:
    """Raise :class:`SpecError` naming every entry that cannot run, before any unit does."""
    problems = entry_problems(spec, out)
    if problems:
        raise SpecError("\n".join(problems))
