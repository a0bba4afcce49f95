"""``skillneuron convert``: a published soft prompt as a PEFT prompt-tuning adapter, where its layout allows.

Usage::

    skillneuron convert SRC --base MODEL --output DIR [--format auto|peft|tensor|skill_neuron|prompt_transferability]

``SRC`` is read as ``prompt_tuned`` reads ``prompt=`` (:func:`~skillneuron_harness.prompts.load_soft_prompt`,
pickles with ``weights_only=True``). The adapter is made the way PEFT makes one: the base model is
loaded, ``get_peft_model`` builds a ``PromptTuningConfig`` for it (T5: the prompt in the encoder
only, ``num_transformer_submodules=1``; decoders ``CAUSAL_LM``; masked LMs ``FEATURE_EXTRACTION``),
the stored vectors are copied in and ``save_pretrained`` writes ``DIR``, next to a
``skillneuron_conversion.json`` with the provenance (source, format, base, prompt hash).

Convertible: ``peft`` and ``tensor`` prompts for any base, and ``prompt_transferability`` prompts for
T5 (the prompt simply precedes the encoder input). Not convertible, said plainly with exit code 2:
the RoBERTa layouts of Skill-Neuron (verbalizer read at the <mask> in front of the prompt) and of
Prompt-Transferability (zeroed position embeddings, text numbered as if the prompt were absent,
mask-first); evaluate those with ``prompt_format=`` directly.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from skillneuron_harness.core.atomic import carry_over, recover_dir, replace_dir, staging_dir, write_json
from skillneuron_harness.core.constants import PEFT_TASK_TYPES
from skillneuron_harness.core.errors import SkillNeuronError
from skillneuron_harness.core.model_source import check_model_source
from skillneuron_harness.prompts.loading import FORMATS, SoftPrompt, load_soft_prompt

CONVERSION_FILE = "skillneuron_conversion.json"
# What an adapter folder written here consists of (a previous adapter's files are not carried over).
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin", "README.md", CONVERSION_FILE)


class ConversionError(SkillNeuronError):
    """A prompt whose layout cannot be written as a PEFT prompt-tuning adapter, with the reason."""


def convert(source: str, base: str, output: str, format: str = "auto", overwrite: bool = False) -> Path:
    """Write the prompt at ``source`` as a PEFT prompt-tuning adapter for ``base`` into ``output``.

    An ``output`` folder that exists and is not empty is refused unless ``overwrite``; the adapter is
    built next to it and swapped in at the end, so a failure or a kill leaves ``output`` as it was
    (other files in it are kept).
    """
    import transformers
    from peft import PromptTuningConfig, TaskType, get_peft_model

    from skillneuron_harness.core.scoring import AUTO_MODEL_CLASSES, resolve_backend
    from skillneuron_harness.prompts.layouts import NOT_PEFT

    out = Path(output)
    recover_dir(out)  # a kill between the two renames of an earlier --overwrite
    if out.exists() and not out.is_dir():
        raise ConversionError(f"--output {out} is a file; pass a folder for the adapter.")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        what = "another adapter" if (out / "adapter_config.json").exists() else "files"
        raise ConversionError(f"--output {out} already holds {what}; pass --overwrite to replace the adapter "
                              "there, or another --output.")
    check_model_source(base, "--base")  # a bad name in a line, before the prompt or any model is read
    prompt = load_soft_prompt(source, arg="SRC", format=format)
    backend = resolve_backend(transformers.AutoConfig.from_pretrained(base))
    reason = NOT_PEFT.get((prompt.format, backend))
    no_layout = ((prompt.format == "skill_neuron" and backend != "masked")
                 or (prompt.format == "prompt_transferability" and backend == "causal"))
    if no_layout:
        reason = f"prompt_format={prompt.format} has no layout for the {backend} backend (RoBERTa/T5 prompts)"
    if reason is not None:
        raise ConversionError(f"SRC={source} ({prompt.format}) cannot be written as a PEFT adapter for {base}: "
                              f"{reason}. Evaluate it as it is: --model_args pretrained={base},prompt={source},"
                              f"prompt_format={prompt.format}")
    model = AUTO_MODEL_CLASSES[backend].from_pretrained(base)
    width = model.get_input_embeddings().embedding_dim
    if prompt.width != width:
        raise ConversionError(f"SRC={source}: the prompt is {prompt.width} wide but --base {base} has hidden size "
                              f"{width}; use the base model the prompt was trained for.")
    task_type = TaskType(PEFT_TASK_TYPES[backend])
    config = PromptTuningConfig(task_type=task_type, num_virtual_tokens=prompt.num_virtual_tokens,
                                num_transformer_submodules=1 if backend == "seq2seq" else None)
    peft_model = get_peft_model(model, config)
    table = peft_model.prompt_encoder["default"].embedding.weight  # (P * n_sub, d); n_sub = 1 here
    table.data.copy_(prompt.embeddings.to(table.dtype))
    staging = staging_dir(out, "convert")
    if staging.exists():
        shutil.rmtree(staging)  # an earlier conversion killed half-way
    try:
        peft_model.save_pretrained(staging)
        write_json(staging / CONVERSION_FILE, _provenance(prompt, base, backend))
        carry_over(out, staging, skip=ADAPTER_FILES)  # the previous adapter goes as a whole; other files stay
        replace_dir(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _provenance(prompt: SoftPrompt, base: str, backend: str) -> dict:
    import peft

    return {"source": prompt.source, "source_format": prompt.format, "base_model": base, "backend": backend,
            "num_virtual_tokens": prompt.num_virtual_tokens, "prompt_sha256": prompt.sha256,
            "peft_version": peft.__version__}


def main(argv: list[str]) -> int:
    """``skillneuron convert SRC --base MODEL --output DIR [--format F]``; 0 on success, 2 when impossible."""
    parser = argparse.ArgumentParser(
        prog="skillneuron convert",
        description="Write a published soft prompt as a PEFT prompt-tuning adapter, where its layout allows.",
    )
    parser.add_argument("source", metavar="SRC", help="the prompt: a PEFT adapter, a tensor file, a Skill-Neuron "
                        "best-backbone or a Prompt-Transferability task_prompt")
    parser.add_argument("--format", default="auto", choices=("auto", *FORMATS), help="how SRC is laid out "
                        "(default: detected, see README)")
    parser.add_argument("--base", required=True, help="Hub id or local path of the base model the prompt is for")
    parser.add_argument("--output", "--out", required=True, help="folder to write the adapter into")
    parser.add_argument("--overwrite", action="store_true", help="replace the adapter already in --output")
    args = parser.parse_args(argv)
    try:
        out = convert(args.source, args.base, args.output, args.format, overwrite=args.overwrite)
    except SkillNeuronError as err:  # the prompt, the base model's name, the layout
        print(f"skillneuron convert: {err}", file=sys.stderr)
        return 2
    print(f"wrote a PEFT prompt-tuning adapter to {out} (evaluate: --model_args pretrained={args.base},prompt={out})")
    return 0
