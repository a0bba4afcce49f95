"""The settings of one prompt-training run, validated once, before anything is loaded.

:class:`TrainConfig` is what ``skillneuron train`` fills from its command line and what the run
writes to ``train_config.json``. Defaults follow Ackermann & Ohmer (2024) (see the README's
"Training a soft prompt"): 100 virtual tokens, AdamW without weight decay at a constant learning rate that
depends on the model family (:func:`default_lr`), batches of 16 documents and texts of at most
128 tokens. Fields that decide the trajectory of the prompt (:data:`TRAJECTORY_FIELDS`) must match
when a run is resumed; the others (epochs, ``max_steps``, patience, ...) may change, so that a
finished run can be extended.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from skillneuron_harness.core.constants import BACKENDS
from skillneuron_harness.core.options import SEED_MAX

INITS = ("random", "vocab", "text")
BACKEND_CHOICES = ("auto", *BACKENDS)
# The papers' learning rates: 5e-3 for T5 (seq2seq), 1e-3 for RoBERTa/BERT (masked LMs).
DEFAULT_LR = {"seq2seq": 5e-3, "masked": 1e-3, "causal": 1e-3}
# Changing any of these changes what the prompt becomes: a checkpoint made with other values cannot be resumed.
TRAJECTORY_FIELDS = (
    "model", "task", "num_virtual_tokens", "lr", "batch_size", "seed", "max_text_length", "init", "init_text",
    "limit_train", "backend", "dropout", "weight_decay",
)


def default_lr(backend: str) -> float:
    """The learning rate of the papers for a backend (Ackermann & Ohmer 2024)."""
    return DEFAULT_LR[backend]


@dataclass
class TrainConfig:
    """Everything that defines a prompt-training run."""

    model: str = field(metadata={"help": "Hub id or local path of the frozen base model."})
    task: str = field(metadata={"help": "lm-eval task name (a multiple_choice task with a training split)."})
    output: str = field(metadata={"help": "Folder for the PEFT adapter (best prompt), logs and checkpoint.",
                                  "aliases": ["--out"]})
    num_virtual_tokens: int = field(default=100, metadata={"help": "Soft-prompt length P (papers: 100)."})
    lr: float | None = field(
        default=None,
        metadata={"help": "Constant AdamW learning rate; None: the papers' value for the model family "
                          "(5e-3 seq2seq/T5, 1e-3 masked LMs and decoders)."},
    )
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay (papers: 0)."})
    epochs: int = field(default=3, metadata={"help": "Passes over the training documents."})
    batch_size: int = field(default=16, metadata={"help": "Training documents per optimizer step (papers: 16)."})
    eval_batch_size: int = field(default=32, metadata={"help": "Validation documents per forward pass."})
    seed: int = field(default=33, metadata={"help": "Seeds the prompt's initialisation, dropout and data order."})
    max_text_length: int = field(
        default=128,
        metadata={"help": "Training contexts keep their last this many tokens (papers: 128); validation "
                          "sees exactly what lm-eval's prompt_tuned sees."},
    )
    init: str = field(
        default="vocab",
        metadata={"help": "Prompt initialisation: random (N(0, 1), PEFT's RANDOM), vocab (embeddings of "
                          "sampled vocabulary tokens) or text (embeddings of --init-text, repeated).",
                  "choices": INITS},
    )
    init_text: str | None = field(default=None, metadata={"help": "The text for init='text'."})
    include_path: list[str] = field(
        default_factory=list, metadata={"help": "Extra folders of lm-eval task YAMLs."}
    )
    limit_train: int | None = field(
        default=None,
        metadata={"help": "Train on this many documents (the same random subset for every seed)."},
    )
    limit_eval: int | None = field(
        default=None, metadata={"help": "Validate on the first this many documents (as lm-eval's --limit)."}
    )
    max_steps: int | None = field(default=None, metadata={"help": "Stop after this many optimizer steps in all."})
    early_stopping_patience: int | None = field(
        default=None, metadata={"help": "Stop after this many validations in a row without a new best."}
    )
    device: str = field(default="cpu", metadata={"help": "torch device, e.g. cpu or cuda:0."})
    backend: str = field(default="auto", metadata={"help": "auto | seq2seq | masked | causal (as prompt_tuned).",
                                                   "choices": BACKEND_CHOICES})
    dropout: bool = field(
        default=True, metadata={"help": "Keep the frozen model's dropout active while training (model.train()).",
                                "flag_help": "Train with dropout off."}
    )
    resume: bool = field(
        default=True,
        metadata={"help": "Continue from the checkpoint in output; False starts afresh and overwrites it.",
                  "flag": "--overwrite", "flag_help": "Discard a previous run in --output instead of resuming it."},
    )

    def __post_init__(self):
        positive = {"num_virtual_tokens": self.num_virtual_tokens, "epochs": self.epochs,
                    "batch_size": self.batch_size, "eval_batch_size": self.eval_batch_size,
                    "max_text_length": self.max_text_length, "limit_train": self.limit_train,
                    "limit_eval": self.limit_eval, "max_steps": self.max_steps,
                    "early_stopping_patience": self.early_stopping_patience}
        for name, value in positive.items():
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{name}={value!r}: expected a whole number of at least 1; pass e.g. "
                                 f"{name}={max(1, value) if isinstance(value, int) else 1}.")
        if self.lr is not None and not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr={self.lr}: the learning rate must be a finite positive number (papers: 5e-3 for T5, "
                             "1e-3 for RoBERTa); leave it unset for the model family's default.")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay={self.weight_decay}: must be a finite number >= 0 (papers: 0).")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= SEED_MAX:
            raise ValueError(f"seed={self.seed!r}: a seed is a whole number from 0 to 2^63-1 ({SEED_MAX}), e.g. "
                             "seed=33.")
        if self.init not in INITS:
            raise ValueError(f"init={self.init!r}: unknown initialisation; use one of {', '.join(INITS)}.")
        if self.init == "text" and not self.init_text:
            raise ValueError(f"init='text' needs init_text, got {self.init_text!r}; pass --init-text 'some words' "
                             "or choose --init vocab.")
        if self.init != "text" and self.init_text is not None:
            raise ValueError(f"init_text={self.init_text!r} is only used with init='text' (got init="
                             f"{self.init!r}); pass --init text or drop --init-text.")
        if self.backend not in BACKEND_CHOICES:
            raise ValueError(f"backend={self.backend!r}: use one of {', '.join(BACKEND_CHOICES)}.")
        if not self.model or not self.task or not self.output:
            raise ValueError(f"model={self.model!r}, task={self.task!r}, output={self.output!r}: all three are "
                             "required (--model, --task, --output).")
        if isinstance(self.include_path, str):
            self.include_path = [self.include_path]

    def to_dict(self) -> dict:
        return asdict(self)

    def trajectory(self) -> dict:
        """The fields a resumed run must share with the checkpoint (see :data:`TRAJECTORY_FIELDS`)."""
        return {name: getattr(self, name) for name in TRAJECTORY_FIELDS}
