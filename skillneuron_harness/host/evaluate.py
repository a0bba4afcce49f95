"""One way for our commands to run lm-eval: the task manager, the model, the ``simple_evaluate`` call.

``skillneuron eval`` (:func:`run_lm_eval`) is lm-eval's own CLI with our model and tasks registered.

``demo``, ``transfer``, ``suppression-curve``, ``replicate`` and ``leaderboard`` all evaluate
through these three functions, so that each run sees the same task index (ours and lm-eval's, plus
the caller's ``include_path``), the same model construction as ``lm_eval --model M --model_args
...`` and the same evaluation call (the bridge active, lm-eval's git probe quiet, no samples kept).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from skillneuron_harness.core.errors import SkillNeuronError


def task_manager(include_path: Sequence[str] | None = None):
    """A fresh lm-eval ``TaskManager`` indexing lm-eval's tasks, ours and ``include_path`` (built by the bridge)."""
    from skillneuron_harness.host import bridge, compat

    compat.quiet_our_task_notes(bridge.task_folder())
    return bridge.task_manager(include_path)


def model_class(model: str):
    """The class lm-eval registers as ``model`` (``prompt_tuned``, ``hf``, ...); ValueError naming it if none."""
    from skillneuron_harness.host import bridge

    bridge.activate()  # prompt_tuned and our task folder, before lm-eval's modules load
    from lm_eval.api.registry import get_model

    return get_model(model)


def check_model(model: str, model_args: str) -> None:
    """Refuse, loading nothing, what ``lm_eval --model M --model_args ARGS`` would refuse at its start.

    The model name must be registered; ``prompt_tuned`` also checks its ``model_args`` (keys, values,
    the files they name: :func:`~skillneuron_harness.host.model_args.parse_model_args`) and, for every
    model, a ``pretrained=`` that can be neither a local folder nor a Hub id is refused.
    """
    from lm_eval.utils import simple_parse_args_string

    from skillneuron_harness.core.model_source import check_model_source
    from skillneuron_harness.host.model_args import MODEL_NAME, parse_model_args

    model_class(model)
    args = simple_parse_args_string(model_args or "")
    pretrained = args.pop("pretrained", None)
    if model == MODEL_NAME:
        parse_model_args(pretrained, args)
    if isinstance(pretrained, str):
        check_model_source(pretrained, "pretrained", args.get("revision"))


def load_model(model: str, model_args: str | dict[str, Any], *, batch_size: int | str | None = None,
               device: str | None = None):
    """The lm-eval model ``model`` built as ``lm_eval --model M --model_args ARGS`` builds it."""
    cls = model_class(model)
    extra = {"batch_size": batch_size, "device": device}
    if isinstance(model_args, dict):
        return cls.create_from_arg_obj(model_args, extra)
    return cls.create_from_arg_string(model_args, extra)


def evaluate(model, tasks: list[str], *, limit: int | float | None = None, task_manager=None,
             bootstrap_iters: int | None = None, **kwargs) -> dict:
    """``lm_eval.simple_evaluate`` on ``model`` (a loaded LM, or a registered name with ``model_args=``)."""
    from skillneuron_harness.host import bridge

    bridge.activate()  # lifts prompt_tuned's skill-neuron summary to a top-level results section
    import lm_eval.evaluator as evaluator

    from skillneuron_harness.host.compat import quiet_git_probe

    if bootstrap_iters is not None:
        kwargs["bootstrap_iters"] = bootstrap_iters
    with quiet_git_probe():
        return evaluator.simple_evaluate(model=model, tasks=tasks, limit=limit, task_manager=task_manager,
                                         log_samples=False, **kwargs)


# ------------------------------------------------------------------------------------ skillneuron eval
BOOTSTRAP_FLAGS = ("--bootstrap_iters", "--bootstrap-iters")


def pop_bootstrap_iters(argv: list[str]) -> tuple[list[str], int | None]:
    """``argv`` without ``--bootstrap_iters N`` (or ``=N``), and N."""
    rest, value = [], None
    args = iter(argv)
    for arg in args:
        flag, eq, inline = arg.partition("=")
        if flag not in BOOTSTRAP_FLAGS:
            rest.append(arg)
            continue
        raw = inline if eq else next(args, None)
        if raw is None or not raw.strip().isdigit():
            raise SkillNeuronError(f"{flag} takes a whole number of bootstrap resamples (got {raw!r}); "
                                   "e.g. --bootstrap_iters 1000, or 0 to skip standard errors.")
        value = int(raw)
    return rest, value


def run_lm_eval(argv: list[str]) -> int:
    """Run lm-eval's CLI on ``argv`` with ``prompt_tuned`` and our task folder registered.

    ``--bootstrap_iters N`` sets ``simple_evaluate``'s number of bootstrap resamples for the
    standard errors (lm-eval's default, 100,000, takes minutes per f1/mcc metric on a CPU; 0 skips them).
    """
    import sys

    from skillneuron_harness.host import bridge as lm_eval_bridge

    argv, bootstrap_iters = pop_bootstrap_iters(argv)
    lm_eval_bridge.activate()
    from lm_eval.__main__ import cli_evaluate

    overrides = {} if bootstrap_iters is None else {"bootstrap_iters": bootstrap_iters}
    sys.argv = ["lm_eval", *argv]
    with lm_eval_bridge.evaluate_overrides(**overrides):
        result = cli_evaluate()
    return result if isinstance(result, int) else 0


def json_default(value):
    """``json.dump``'s ``default=`` as lm-eval writes its results (numpy scalars, sets, ...)."""
    from lm_eval.utils import handle_non_serializable

    return handle_non_serializable(value)


def lm_eval_version() -> str:
    """The installed lm-eval's version, for provenance records."""
    import lm_eval

    return getattr(lm_eval, "__version__", "unknown")
