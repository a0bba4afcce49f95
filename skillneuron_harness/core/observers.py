"""The narrow door between ``prompt_tuned`` and what watches its forward passes.

``prompt_tuned`` keeps a list of :class:`ScoringObserver` s (the skill-neuron recorder, the
suppression) and, in each ``loglikelihood`` call, announces::

    observer.begin(run)        # run: the tasks of the requests, and passes over their training docs
    observer.scored(batch)     # each scored batch: a ScoredDocuments, one entry per document
    observer.end()             # after the last batch

It arms ``observer.interventions(model)`` around every forward pass it makes (loglikelihood,
rolling log-likelihood, generation, batch-size probing), and captures the FFN activations at
``observer.capture_positions`` (``"prompt"``, ``"last"`` or ``"mask"``) of the scored documents
for the observers that ask for them. ``observer.model_info()`` adds to the results JSON's
``config``. Observers never reach into the model: what they need comes in ``run`` and ``batch``.
This module has no dependencies, so that both the statistics (``neurons/``) and the model
(``models/``) can use it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterator

    import torch


@dataclass
class TaskInfo:
    """What the statistics need to know of one task of the run."""

    name: str
    num_classes: int  # choices per document (of the first evaluation document)
    split: str | None  # the evaluated split
    clean_twin: str | None = None  # metadata.clean_twin of an adversarial task
    split_of: str | None = None  # metadata.split_of: the task whose training split and rendering this one shares
    subtasks: str | None = None  # metadata.sn_subtasks: the task's own binary decomposition (sn_subtasks syntax)
    has_training_docs: bool = False
    training_docs: int | None = None  # documents in the training split, when it has one


@dataclass
class ScoredDocuments:
    """One scored batch as observers see it, one entry per document (G documents)."""

    tasks: list[str]
    doc_ids: list[int]
    labels: list[int]  # the gold choice of each document
    predictions: list[int]  # the choice with the highest log-likelihood (lm-eval's `acc`)
    activations: torch.Tensor | None  # (G, L, P', D) at the observer's capture_positions


class EvaluationRun(Protocol):
    """What ``begin`` hands an observer: the run's tasks and passes over their training documents."""

    task_names: list[str]  # tasks of this process's requests

    def task(self, name: str) -> TaskInfo: ...

    def pairs(self, name: str) -> dict[int, tuple[int, str | None]]:
        """Adversarial doc_id -> (its clean original's doc_id, perturbation kind or None); {} for unpaired tasks."""
        ...

    def training_activations(self, name: str, limit: int | None, desc: str, positions: str, split: str = "train",
                             batch_size: int | None = None
                             ) -> tuple[int, Iterator[tuple[torch.Tensor, list[int]]]]:
        """(documents in all, this process's (activations (G, L, P', D) at ``positions``, gold labels [G]) by batch).

        ``split="train"``: the task's training documents; ``"eval"``: its evaluation documents. A
        capture-only pass (no scoring) in batches of ``batch_size`` documents.
        """
        ...


class ScoringObserver:
    """Base class: every event is a no-op; override what you need (see the module docstring)."""

    #: FFN activations wanted at these positions of each scored document ("prompt", "last", "mask"); None: none.
    capture_positions: str | None = None

    def interventions(self, model) -> AbstractContextManager:
        """Hooks that change the model's activations, armed around each forward pass."""
        return nullcontext()

    def begin(self, run: EvaluationRun) -> None:
        """Before the first scored batch of a ``loglikelihood`` call."""

    def scored(self, batch: ScoredDocuments) -> None:
        """After each scored batch."""

    def end(self) -> None:
        """After the last scored batch."""

    def model_info(self) -> dict:
        """Entries for the results JSON's ``config``."""
        return {}
