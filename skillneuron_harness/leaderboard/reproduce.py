"""The one ``lm_eval`` command that reproduces an entry's numbers.

    lm_eval --model prompt_tuned --model_args pretrained=...,prompt=... --tasks sst2,adv_sst2 \
      --limit 20 --batch_size 8 --device cpu --output_path reproduced

Built from what the entry's results files record (``config.model_args`` exactly as it was run,
``batch_size``, ``device``, ``limit``) and the entry's tasks in suite order. lm-eval's CLI has no
``--bootstrap_iters``: the accuracies and their (analytic) stderrs do not depend on it, and
``skillneuron eval`` takes the same arguments plus ``--bootstrap_iters N`` for the other metrics.
``skill_neurons=`` and ``output_path=`` name output folders and change no number, so they are left
out (as in a unit's identity); everything else is kept verbatim. One call evaluates every task: a
perturbation twin or attack set then runs beside its clean twin, as its unit did, and each task's
accuracy is that of its unit (same documents, same model, same scoring).
"""

from __future__ import annotations

import shlex

from skillneuron_harness.core.results import format_model_args, parse_model_args

_OUTPUT_ARGS = ("skill_neurons", "output_path")


def _limit(value) -> str | None:
    if value is None:
        return None
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def command(model: str, model_args: str, tasks: list[str], *, limit=None, batch_size=None, device=None,
            include_path: list[str] | None = None, output_path: str = "reproduced") -> str:
    """The shell command (arguments quoted for a POSIX shell)."""
    args = {k: v for k, v in parse_model_args(model_args).items() if k not in _OUTPUT_ARGS}
    argv = ["lm_eval", "--model", model]
    if args:
        argv += ["--model_args", format_model_args(args)]
    argv += ["--tasks", ",".join(tasks)]
    for flag, value in (("--limit", _limit(limit)), ("--batch_size", batch_size), ("--device", device)):
        if value is not None:
            argv += [flag, str(value)]
    if include_path:  # lm-eval's CLI takes one folder: a suite read from several needs them in one
        argv += ["--include_path", include_path[0]]
    argv += ["--output_path", output_path]
    return " ".join(shlex.quote(a) for a in argv)
