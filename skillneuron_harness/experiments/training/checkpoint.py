"""What a training run leaves in its output folder, and how an interrupted run picks it up again.

The folder holds the best prompt so far as a PEFT prompt-tuning adapter (``adapter_config.json`` +
``adapter_model.safetensors``, loadable as it is by ``prompt_tuned``'s ``prompt=``), the run's
settings ``train_config.json``, the log ``train_log.jsonl`` (one JSON object per optimizer step
and per validation) and ``checkpoint/state.pt``: the prompt, AdamW's state, torch's RNG state and
the position in the run (epoch, batches done in it, step) plus the best validation accuracy. The
checkpoint is written after every validation (each epoch, and when ``max_steps`` stops a run).
Every file is replaced atomically (:mod:`skillneuron_harness.core.atomic`), so an interruption loses at
most the current epoch and never leaves a half-written adapter or checkpoint. ``--overwrite`` of a
folder that holds a run trains in a hidden sibling folder (``.<name>.overwrite.partial``) and
swaps it in only at the end: until then the previous adapter stays where it was, and running the
same ``--overwrite`` command after an interruption resumes the replacement run.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from skillneuron_harness.core.atomic import PARTIAL_SUFFIX, carry_over, replace_dir, staging_dir, torch_save, write_text
from skillneuron_harness.core.constants import TRAIN_CONFIG_FILE

CHECKPOINT = Path("checkpoint") / "state.pt"
CONFIG_FILE = TRAIN_CONFIG_FILE
LOG_FILE = "train_log.jsonl"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "README.md")


@dataclass
class RunState:
    """Where a run stands; saved with the prompt and the optimizer after every validation."""

    epoch: int = 0  # the epoch in progress (0-based)
    batches_done: int = 0  # batches of that epoch already trained on
    step: int = 0  # optimizer steps in all
    best_accuracy: float | None = None
    best_step: int | None = None
    evals_since_best: int = 0
    history: list[dict] = field(default_factory=list)  # one entry per validation


def versions() -> dict:
    """Versions of everything that decides the numbers."""
    import peft
    import transformers

    from skillneuron_harness import __version__
    from skillneuron_harness.host.evaluate import lm_eval_version

    return {"skillneuron_harness": __version__, "lm_eval": lm_eval_version(),
            "torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
            "python": platform.python_version()}


def save_checkpoint(output: Path, prompt: torch.Tensor, optimizer, state: RunState, trajectory: dict) -> None:
    """Write ``checkpoint/state.pt`` atomically: the prompt (P, d), AdamW, torch's RNG and ``state``."""
    path = output / CHECKPOINT
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "prompt": prompt.detach().cpu().clone(),  # (P, d)
        "optimizer": optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "state": json.dumps(state.__dict__),
        "trajectory": json.dumps(trajectory, sort_keys=True),
    }
    torch_save(payload, path)


def load_checkpoint(output: Path, trajectory: dict) -> dict | None:
    """The saved checkpoint, or None; raises if it was made with settings that change the prompt."""
    path = output / CHECKPOINT
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001  (torch raises several kinds for a damaged zip)
        raise ValueError(f"output={output}: the checkpoint {path} cannot be read ({err}); delete it to redo the "
                         "run from its last adapter, or pass --overwrite to start afresh.") from None
    saved = json.loads(payload["trajectory"])
    current = json.loads(json.dumps(trajectory, sort_keys=True))
    diff = {k: (saved.get(k), current.get(k)) for k in set(saved) | set(current) if saved.get(k) != current.get(k)}
    if diff:
        details = ", ".join(f"{k}: {a!r} there, {b!r} now" for k, (a, b) in sorted(diff.items()))
        raise ValueError(f"output={output} holds a run with other settings ({details}); resume it with its own "
                         "settings, pass another --output, or --overwrite to start afresh.")
    payload["state"] = RunState(**json.loads(payload["state"]))
    return payload


def has_run(output: Path) -> bool:
    """Whether ``output`` holds anything of a training run (adapter, checkpoint, log, settings)."""
    return any((output / name).exists() for name in (str(CHECKPOINT.parent), LOG_FILE, CONFIG_FILE, *ADAPTER_FILES))


def clear_run(output: Path) -> None:
    """Remove what a previous run left (checkpoint, log, adapter), for a fresh start."""
    shutil.rmtree(output / CHECKPOINT.parent, ignore_errors=True)
    for name in (LOG_FILE, CONFIG_FILE, *ADAPTER_FILES):
        (output / name).unlink(missing_ok=True)


def overwrite_staging(output: Path) -> Path:
    """Where ``--overwrite`` builds the run that replaces the one in ``output``."""
    return staging_dir(output, "overwrite")


def finish_overwrite(staging: Path, output: Path) -> None:
    """Swap the finished run in ``staging`` into ``output``; files in ``output`` that are not the run's stay."""
    carry_over(output, staging, skip={str(CHECKPOINT.parent), LOG_FILE, CONFIG_FILE, *ADAPTER_FILES})
    replace_dir(staging, output)


def save_adapter(peft_model, output: Path) -> None:
    """``save_pretrained`` into ``output`` with each file replaced atomically (weights before config)."""
    for stale in output.glob(f".adapter.*{PARTIAL_SUFFIX}"):  # an earlier save killed half-way
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=".adapter.", suffix=PARTIAL_SUFFIX, dir=output))
    try:
        peft_model.save_pretrained(str(tmp))
        written = {p.name for p in tmp.iterdir()}
        # The weights first: a folder with a config but old weights never looks complete and newer.
        for name in sorted(written, key=lambda n: (n == "adapter_config.json", n == "README.md", n)):
            with open(tmp / name, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp / name, output / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def truncate_log(output: Path, step: int) -> None:
    """Drop log lines written after the checkpoint at ``step`` (the part of an epoch that is redone).

    A last line cut off by a kill (no newline, not JSON) is dropped too.
    """
    path = output / LOG_FILE
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if row["step"] <= step:
            kept.append(line)
    write_text(path, "".join(f"{line}\n" for line in kept))


class TrainLog:
    """Appends one JSON object per line to ``train_log.jsonl``."""

    def __init__(self, output: Path):
        self.path = output / LOG_FILE
        self._file = self.path.open("a", encoding="utf-8")

    def write(self, **row) -> None:
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
