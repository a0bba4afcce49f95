"""Firing bits of paired documents, kept during a ``skill_neurons=`` run for the per-example consistency.

The recorder (:mod:`~skillneuron_harness.neurons.recorder`) hands a :class:`PairTracker` the
pairings of the run (an adversarial task, its clean twin evaluated in the same run, and per
adversarial document the clean ``doc_id`` it was made from) and then every scored batch. The
tracker keeps, for the paired documents only, whether each neuron fires (activation above the
**clean task's** baseline, for both sides, so that a flip is a change of the document and not of
the threshold), with the document's gold label and prediction.

What is kept per document depends on when the clean task's skill neurons are known:

* ``sn_reference=FILE`` (a clean run's file): the selection (top ``sn_top`` per layer by its
  ``score``, each at its ``position``) is known before the first batch, so only those L x k bits
  are kept (a few hundred bytes per document);
* otherwise the selection comes from the clean task's own counts at the end of the run, so the
  bits of every neuron at every captured position are kept, packed eight to a byte:
  L x P' x D / 8 bytes per paired document (RoBERTa-base with a 100-token prompt: 461 KB; the
  148 pairs of AdvGLUE SST-2 and their originals: 136 MB).

:meth:`PairTracker.rows` gives one :class:`~skillneuron_harness.neurons.per_example.PairRow` per
pair at the end. Under data parallelism each process keeps its own documents and :meth:`gathered`
joins them (one ``all_gather_object``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from skillneuron_harness.neurons.per_example import PairRow, layer_flip_fraction, selected_bits

log = logging.getLogger(__name__)


@dataclass
class Pairing:
    """An adversarial task, its clean twin and its pairs: adversarial doc_id -> (clean doc_id, kind)."""

    task: str
    clean: str
    pairs: dict[int, tuple[int, str | None]]


@dataclass
class _Kept:
    """One document's bits (packed (L, P', D) or (L, k) bool), gold label and prediction."""

    bits: np.ndarray
    shape: tuple[int, ...]
    label: int
    pred: int


@dataclass
class PairTracker:
    """Bits of the paired documents of a run (see the module docstring)."""

    selection: tuple[torch.Tensor, torch.Tensor] | None = None  # (index [L, k], position [L, k]) known up front
    pairings: list[Pairing] = field(default_factory=list)
    kept: dict[str, dict[int, _Kept]] = field(default_factory=dict)
    wanted: dict[str, set[int]] = field(default_factory=dict)  # task -> the doc_ids to keep
    baseline_of: dict[str, str] = field(default_factory=dict)  # adversarial task -> its clean twin

    def add(self, pairing: Pairing) -> None:
        """Keep the documents of ``pairing`` from now on."""
        self.pairings.append(pairing)
        self.wanted.setdefault(pairing.task, set()).update(pairing.pairs)
        self.wanted.setdefault(pairing.clean, set()).update(c for c, _ in pairing.pairs.values())
        self.baseline_of[pairing.task] = pairing.clean  # both sides against the clean baseline

    def threshold_task(self, name: str) -> str:
        """The task whose baseline decides a document of ``name`` fires (the clean twin for an adversarial one)."""
        return self.baseline_of.get(name, name)

    def scored(self, name: str, doc_ids: list[int], acts: torch.Tensor, baseline: torch.Tensor,
               labels: list[int], preds: list[int]) -> None:
        """Keep the paired documents among ``doc_ids``: activations (G, L, P', D) against ``baseline`` (L, P', D)."""
        wanted = self.wanted.get(name)
        rows = [i for i, d in enumerate(doc_ids) if wanted and d in wanted]
        if not rows:
            return
        picked = acts if len(rows) == acts.shape[0] else acts[rows]  # (G', L, P', D); no copy when all are paired
        fires = picked > baseline.to(acts.device, acts.dtype)  # (G', L, P', D)
        if self.selection is not None:
            fires = selected_bits(fires, *(t.to(fires.device) for t in self.selection))  # (G', L, k)
        shape = tuple(fires.shape[1:])
        packed = np.packbits(fires.cpu().numpy().reshape(len(rows), -1), axis=1)  # (G', ceil(bits / 8)) uint8
        kept = self.kept.setdefault(name, {})
        for j, i in enumerate(rows):
            kept[doc_ids[i]] = _Kept(packed[j].copy(), shape, int(labels[i]), int(preds[i]))

    def gathered(self) -> None:
        """Join every process's documents (a no-op without data parallelism)."""
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return
        parts = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(parts, self.kept)
        self.kept = {}
        for part in parts:
            for name, docs in part.items():
                self.kept.setdefault(name, {}).update(docs)

    def _bits(self, name: str, doc_id: int, index: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        kept = self.kept[name][doc_id]
        bits = torch.from_numpy(np.unpackbits(kept.bits, count=int(np.prod(kept.shape))).reshape(kept.shape)
                                .astype(bool))
        return bits if self.selection is not None else selected_bits(bits, index, position)  # (L, k)

    def rows(self, pairing: Pairing, index: torch.Tensor, position: torch.Tensor) -> tuple[list[PairRow], int]:
        """(one row per pair whose two documents were scored, the number of pairs missing a side).

        ``index``, ``position``: the clean task's selected neurons [L, k] and their positions [L, k]
        (ignored when the selection was known up front).
        """
        adv, clean = self.kept.get(pairing.task, {}), self.kept.get(pairing.clean, {})
        out, missing = [], 0
        for doc_id in sorted(pairing.pairs):
            clean_id, kind = pairing.pairs[doc_id]
            if doc_id not in adv or clean_id not in clean:
                missing += 1
                continue
            a = self._bits(pairing.task, doc_id, index, position)  # (L, k)
            c = self._bits(pairing.clean, clean_id, index, position)  # (L, k)
            flips = layer_flip_fraction(c.unsqueeze(0), a.unsqueeze(0))[0]  # (L,)
            out.append(PairRow(doc_id, clean_id, adv[doc_id].label, clean[clean_id].pred, adv[doc_id].pred,
                               tuple(flips.tolist()), kind))
        return out, missing


def track_pairs(tracker: PairTracker | None, twins: dict[str, str], pairs: dict[str, dict], *,
                reference: str | None, top: float, shape: tuple[int, int, int], warn: bool = True
                ) -> PairTracker | None:
    """``tracker`` (made on the first pairing) with the pairings of ``pairs`` (task -> its pairs) added.

    ``twins``: task -> its clean twin; ``reference``: ``sn_reference``, whose selection, known now,
    keeps L x k bits per document; ``shape``: (L, P', D) per document, for the memory warning.
    """
    for name, task_pairs in pairs.items():
        if not task_pairs:
            continue
        if tracker is None:
            selection = None
            if reference:
                from skillneuron_harness.neurons.io import read_task_stats
                from skillneuron_harness.neurons.per_example import selected_neurons

                ref = read_task_stats(Path(reference).parent, Path(reference).stem, arg="sn_reference").tensors
                selection = selected_neurons(ref["score"], ref.get("position"), top)  # (L, k), (L, k)
            tracker = PairTracker(selection)
        tracker.add(Pairing(name, twins[name], task_pairs))
    if tracker is not None and tracker.selection is None and warn:
        docs = sum(len(ids) for ids in tracker.wanted.values())
        held = docs * -(-int(np.prod(shape)) // 8)
        if held > 1 << 30:
            log.warning("skill_neurons: the per-example consistency keeps %.1f GB of firing bits for %d paired "
                        "documents; sn_reference=FILE (a clean run's file) keeps only the selected neurons'.",
                        held / 1e9, docs)
    return tracker


def pairs_path(directory, task: str):
    """``<dir>/<task>.pairs.jsonl``: one row per pair (:meth:`PairRow.as_json`)."""
    from skillneuron_harness.neurons.io import task_paths

    return task_paths(directory, task)[1].with_suffix(".pairs.jsonl")


def per_example_block(tracker: PairTracker, pairing: Pairing, clean: dict[str, torch.Tensor], top: float,
                      directory, selection_source: str) -> dict:
    """The ``per_example`` block of ``pairing.task``'s summary; writes ``<task>.pairs.jsonl`` in ``directory``.

    ``clean``: the clean twin's tensors (its ``score`` [L, D] and ``position`` [L, D] select the
    neurons unless the tracker's selection came up front); ``selection_source`` says which.
    """
    import json

    from skillneuron_harness.core.atomic import write_text
    from skillneuron_harness.neurons.per_example import per_example_report, selected_neurons

    head = {"clean_twin": pairing.clean, "selection": selection_source}
    if tracker.selection is not None:
        index, position = tracker.selection
    elif "score" not in clean:
        return {**head, "skipped": "the clean twin's predictivity is undefined (a class without documents)"}
    else:
        index, position = selected_neurons(clean["score"], clean.get("position"), top)  # (L, k), (L, k)
    rows, missing = tracker.rows(pairing, index, position)
    path = pairs_path(directory, pairing.task)
    write_text(path, "".join(json.dumps(r.as_json()) + "\n" for r in rows))
    report = per_example_report(rows, top_fraction=top, neurons_per_layer=int(index.shape[1]))
    held = sum(k.bits.nbytes for name in (pairing.task, pairing.clean) for k in tracker.kept.get(name, {}).values())
    return {**head, "unscored_pairs": missing, "file": str(path), "bits_bytes": held, **report}
