"""The ``skillneuron`` command.

``skillneuron eval ...`` takes lm-eval's run arguments, plus ``--bootstrap_iters N`` (which
lm-eval 0.4.13's CLI lacks), and runs lm-eval with our model and tasks registered explicitly, also
for interpreters where the startup bridge does not run (``python -S``, sites that ignore ``.pth``
files). Our own errors (:class:`~skillneuron_harness.core.errors.SkillNeuronError`) end every command
with one line instead of a traceback. Further subcommands live in their own modules
and are listed in ``COMMANDS`` as ``"module:function"``; each function takes the argument list
after the subcommand's name and returns an exit code.
"""

from __future__ import annotations

import importlib
import os
import sys

from skillneuron_harness.core.errors import install_excepthook

COMMANDS = {
    "eval": "skillneuron_harness.host.evaluate:run_lm_eval",
    "train": "skillneuron_harness.experiments.training.cli:main",
    "convert": "skillneuron_harness.prompts.convert:main",
    "average": "skillneuron_harness.neurons.average:main",
    "demo": "skillneuron_harness.experiments.demo:main",
    "report": "skillneuron_harness.report.cli:main",
    "suppression-curve": "skillneuron_harness.experiments.suppression_curve:main",
    "patch": "skillneuron_harness.experiments.patch:main",
    "attack": "skillneuron_harness.experiments.attack:main",
    "transfer": "skillneuron_harness.experiments.transfer:main",
    "leaderboard": "skillneuron_harness.leaderboard.cli:main",
    "replicate": "skillneuron_harness.experiments.replicate:main",
}
SUMMARIES = {
    "eval": "run lm-eval (`lm_eval run`'s arguments, and --bootstrap_iters N) with prompt_tuned and our tasks",
    "train": "train a soft prompt on an lm-eval multiple_choice task (PEFT prompt tuning)",
    "convert": "write a published soft prompt (Skill-Neuron, Prompt-Transferability) as a PEFT adapter",
    "average": "average a task's neuron scores over the skill_neurons= folders of several prompts",
    "demo": "the shipped MiniLM SST-2 prompt on sst2/adv_sst2 with skill neurons, on a CPU (--train: a new one)",
    "report": "Markdown/JSON report over lm-eval runs and skill-neuron files, with figures",
    "suppression-curve": "accuracy as the top n% skill neurons (or random ones) are suppressed",
    "patch": "clean/adversarial pairs: how many flipped predictions the clean skill neurons' values bring back",
    "attack": "adversarial documents made against a model (greedy word-importance search), written as an lm-eval task",
    "transfer": "evaluate every prompt on every target task, then write the report",
    "leaderboard": "rank models on AdvGLUE (or any suite) from a YAML spec: resumable runs, Markdown/CSV/JSON/HTML",
    "replicate": "Ackermann & Ohmer's protocol over a checkout of their released prompts, then the report",
}


def _usage() -> str:
    lines = ["usage: skillneuron COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name:<20} {SUMMARIES.get(name, '')}" for name in COMMANDS]
    lines += ["", "`skillneuron COMMAND --help` shows a command's arguments."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``skillneuron`` console script."""
    install_excepthook()
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"skillneuron: unknown command '{name}'.\n\n{_usage()}", file=sys.stderr)
        return 2
    module, _, function = COMMANDS[name].partition(":")
    try:
        return int(getattr(importlib.import_module(module), function)(rest) or 0)
    except BrokenPipeError:  # `skillneuron ... | head`: the reader left; nothing is wrong with the run
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141  # 128 + SIGPIPE, as a shell reports it


if __name__ == "__main__":
    sys.exit(main())
