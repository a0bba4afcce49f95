"""The ``model_args`` of ``prompt_tuned``: three option groups and the keys lm-eval's ``hf`` takes.

:class:`PromptArgs` (``prompt``/``peft``, ``prompt_format``, ``backend``) is declared here;
:class:`~skillneuron_harness.neurons.recorder.SkillNeuronConfig` (``skill_neurons`` + ``sn_*``)
and :class:`~skillneuron_harness.neurons.suppression.SuppressionConfig` (``suppress`` +
``suppress_*``) next to the code they configure. :func:`parse_model_args` splits the keyword
arguments lm-eval passes into the three groups and the rest, which goes to lm-eval's ``HFLM``,
after refusing every key that neither a group nor ``HFLM`` takes (before any model or demo is
loaded). The README's ``model_args`` tables are generated from these declarations::

    python -m skillneuron_harness.host.model_args README.md   # rewrite the tables in place
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from skillneuron_harness.core.options import (
    ModelArgsError,
    OptionGroup,
    StrEnum,
    as_choice,
    as_str,
    markdown_table,
    refuse_unknown,
)
from skillneuron_harness.core.scoring import BACKENDS
from skillneuron_harness.prompts.loading import FORMATS

MODEL_NAME = "prompt_tuned"


#: ``backend=``: ``auto`` or one of the scorers' backends (:data:`~skillneuron_harness.core.scoring.BACKENDS`).
Backend = StrEnum("Backend", {"AUTO": "auto", **{b.upper(): b for b in BACKENDS}})
#: ``prompt_format=``: ``auto`` or one of the layouts of :data:`~skillneuron_harness.prompts.loading.FORMATS`.
PromptFormat = StrEnum("PromptFormat", {"AUTO": "auto", **{f.upper(): f for f in FORMATS}})


@dataclass
class PromptArgs(OptionGroup):
    """The soft prompt and the backend: the ``model_args`` that ``prompt_tuned`` adds to ``hf``'s."""

    prompt: str | None = field(default=None, metadata={
        "arg": "prompt", "default": "none", "label": "`prompt` (alias `peft`)",
        "help": "the soft prompt: a PEFT prompt-tuning adapter (folder or Hub id) or a tensor file `[n_tokens, "
                "d_model]` (`.safetensors`, `.pt`/`.pth`/`.bin`, `.npy`). Without it the base model runs alone "
                "(a baseline). Pickles are read with `torch.load(weights_only=True)`: a file that needs more is "
                "refused with a note on converting it"})
    peft: str | None = field(default=None, metadata={"arg": "peft", "hidden": True,
                                                     "help": "the same as prompt= (lm-eval's hf name for it)"})
    prompt_format: PromptFormat = field(default=PromptFormat.AUTO, metadata={
        "arg": "prompt_format",
        "help": "`peft`, `tensor`, `skill_neuron` or `prompt_transferability`: how the prompt is laid out in the "
                "input ([Published soft prompts](#published-soft-prompts)); `auto` detects it from the file"})
    backend: Backend = field(default=Backend.AUTO, metadata={
        "arg": "backend",
        "help": "`seq2seq`, `masked` or `causal`; `auto` reads the config (encoder-decoder -> seq2seq, a "
                "masked-LM architecture -> masked, otherwise causal)"})

    def __post_init__(self):
        self.prompt, self.peft = as_str("prompt", self.prompt), as_str("peft", self.peft)
        if self.prompt is not None and self.peft is not None:
            raise ModelArgsError("prompt= and peft= name the same thing (the soft prompt); pass only one.")
        self.prompt_arg = "peft" if self.peft is not None else "prompt"  # the name errors should use
        self.prompt = self.prompt if self.prompt is not None else self.peft
        self.prompt_format = as_choice("prompt_format", self.prompt_format, PromptFormat, "format")
        if self.prompt_format != PromptFormat.AUTO and self.prompt is None:
            raise ModelArgsError(f"prompt_format={self.prompt_format} describes a soft prompt, but no prompt= is "
                                 "given.")
        self.backend = as_choice("backend", self.backend, Backend, "backend")


#: README rows of the keys ``prompt_tuned`` reads before handing them to lm-eval's ``HFLM``.
HOST_ROWS = (
    ("pretrained", "the demo model",
     "Hub id or local path of the frozen base model; without it (and without `prompt`) the demo model with its "
     "shipped SST-2 prompt ([Demo](#demo))"),
)
HOST_ROWS_AFTER = (
    ("max_length", "from the config",
     "tokens per sequence **including** the soft prompt's virtual tokens; contexts are truncated from the left to "
     "fit"),
    ("`batch_size`, `dtype`, `device`, `trust_remote_code`, `parallelize`, ...", "as lm-eval's `hf`",
     "passed to lm-eval's `HFLM`; `trust_remote_code` stays off unless asked for; `tp_plan` is refused (use "
     "`accelerate launch`); a key that neither `prompt_tuned` nor `hf` knows is refused with the valid ones"),
)


def groups():
    """The option groups of ``prompt_tuned``, in README order."""
    from skillneuron_harness.neurons.recorder import SkillNeuronConfig
    from skillneuron_harness.neurons.suppression import SuppressionConfig

    return PromptArgs, SkillNeuronConfig, SuppressionConfig


@dataclass
class ModelArgs:
    """``prompt_tuned``'s ``model_args``, parsed: the three groups and what goes on to ``HFLM``."""

    pretrained: str | None
    prompt: PromptArgs
    skill_neurons: object | None  # SkillNeuronConfig
    suppression: object | None  # SuppressionConfig
    hf_kwargs: dict


def parse_model_args(pretrained, kwargs: dict) -> ModelArgs:
    """Split and check ``prompt_tuned``'s keyword arguments (see the module docstring)."""
    from skillneuron_harness.host.compat import hflm_keywords

    prompt_group, sn_group, suppress_group = groups()
    ours = [arg for group in (prompt_group, sn_group, suppress_group) for arg in group.arg_names()]
    refuse_unknown(kwargs, {*ours, *hflm_keywords()}, model=MODEL_NAME, shown=["pretrained", *ours])
    rest = dict(kwargs)
    prompt = prompt_group.take(rest)
    sn = sn_group.take(rest)
    suppress = suppress_group.take(rest)
    return ModelArgs(as_str("pretrained", pretrained), prompt, sn, suppress, rest)


# ------------------------------------------------------------------ README tables
TABLE_MARKERS = {
    "prompt": "PromptArgs",
    "skill_neurons": "SkillNeuronConfig",
    "suppress": "SuppressionConfig",
}


def readme_tables() -> dict[str, str]:
    """The generated ``model_args`` tables, by marker name."""
    prompt_group, sn_group, suppress_group = groups()
    return {
        "prompt": markdown_table([*HOST_ROWS, *prompt_group.help_rows(), *HOST_ROWS_AFTER]),
        "skill_neurons": markdown_table(sn_group.help_rows()),
        "suppress": markdown_table(suppress_group.help_rows()),
    }


def sync_readme(text: str) -> str:
    """``text`` with every ``<!-- model_args:NAME -->`` ... ``<!-- /model_args -->`` block regenerated."""
    tables = readme_tables()
    out, pos = [], 0
    for name, table in tables.items():
        start_marker = f"<!-- model_args:{name} (generated by python -m skillneuron_harness.host.model_args) -->"
        start = text.find(start_marker, pos)
        end = text.find("<!-- /model_args -->", start)
        if start < 0 or end < 0:
            raise ValueError(f"README: no {start_marker} ... <!-- /model_args --> block")
        out.append(text[pos:start] + start_marker + "\n" + table + "\n")
        pos = end
    out.append(text[pos:])
    return "".join(out)


def main(argv: list[str]) -> int:
    """Rewrite the ``model_args`` tables of the README files given."""
    for name in argv or ["README.md"]:
        path = Path(name)
        path.write_text(sync_readme(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
