"""The ``skillneuron`` command.

``skillneuron eval ...`` takes exactly lm-eval's run arguments and runs lm-eval with our model
and tasks registered explicitly, for interpreters where the startup bridge does not run
(``python -S``, sites that ignore ``.pth`` files). Further subcommands live in their own modules
and are listed in ``COMMANDS`` as ``"module:function"``; each function takes the argument list
after the subcommand's name and returns an exit code.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "eval": "skillneuron_harness.cli:run_lm_eval",
    "train": "skillneuron_harness.training.cli:main",
    "convert": "skillneuron_harness.prompts.convert:main",
    "average": "skillneuron_harness.neurons.average:main",
    "demo": "skillneuron_harness.demo.run:main",
    "report": "skillneuron_harness.report.cli:main",
    "suppression-curve": "skillneuron_harness.report.suppression_curve:main",
    "transfer": "skillneuron_harness.report.transfer:main",
}
SUMMARIES = {
    "eval": "run lm-eval (same arguments as `lm_eval run`) with prompt_tuned and our tasks registered",
    "train": "train a soft prompt on an lm-eval multiple_choice task (PEFT prompt tuning)",
    "convert": "write a published soft prompt (Skill-Neuron, Prompt-Transferability) as a PEFT adapter",
    "average": "average a task's neuron scores over the skill_neurons= folders of several prompts",
    "demo": "train a soft prompt for MiniLM on SST-2 on a CPU, evaluate sst2/adv_sst2 with skill neurons",
    "report": "Markdown/JSON report over lm-eval runs and skill-neuron files, with figures",
    "suppression-curve": "accuracy as the top n% skill neurons (or random ones) are suppressed",
    "transfer": "evaluate every prompt on every target task, then write the report",
}


def run_lm_eval(argv: list[str]) -> int:
    """Run lm-eval's CLI on ``argv`` with ``prompt_tuned`` and our task folder registered."""
    from skillneuron_harness import lm_eval_bridge

    lm_eval_bridge.register_model()
    import lm_eval.tasks.manager as manager

    lm_eval_bridge.add_task_folder(manager)
    import lm_eval.evaluator as evaluator

    lm_eval_bridge.lift_skill_neurons(evaluator)
    from lm_eval.__main__ import cli_evaluate

    sys.argv = ["lm_eval", *argv]
    result = cli_evaluate()
    return result if isinstance(result, int) else 0


def _usage() -> str:
    lines = ["usage: skillneuron COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<20} {SUMMARIES.get(name, '')}" for name in COMMANDS]
    lines += ["", "`skillneuron COMMAND --help` shows a command's arguments."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``skillneuron`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"skillneuron: unknown command '{name}'.\n\n{_usage()}", file=sys.stderr)
        return 2
    module, _, function = COMMANDS[name].partition(":")
    return int(getattr(importlib.import_module(module), function)(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
