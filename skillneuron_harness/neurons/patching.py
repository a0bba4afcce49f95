"""Activation patching of skill neurons between the two documents of a clean/adversarial pair.

A :class:`Patch` holds the neurons to patch, bool [L, D], and the values they take, [L, P', D]
(one document's FFN activations at the captured positions: the soft-prompt positions, or its last
context token / first mask). Inside :meth:`Patch.armed` a forward pre-hook on each layer's
down-projection (the hook points of :mod:`~skillneuron_harness.neurons.capture`) overwrites those
neurons at the positions ``select`` names, the same ``select`` as activation capture
(:meth:`~skillneuron_harness.core.scoring.RowLayout.select`, set just before the forward pass), in
every row of the batch: a patched pass scores one document. The hooks are registered first
(``prepend=True``), so a capture of the same pass sees the patched values; they are removed in
``finally``. A patch without neurons arms no hook, so ``k = 0`` is the unpatched model exactly.

:func:`patch_outcomes` counts what patching did over the pairs (pure): the fraction of the pairs
whose prediction flipped that patching the adversarial document with the clean values brings back
(``restored``), and the fraction of the pairs whose clean document was right that patching the
clean document with the adversarial values makes wrong (``broken``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from skillneuron_harness.neurons.capture import HookPoint, Select


class Patch:
    """Neurons ``mask`` [L, D] set to ``values`` [L, P', D] at the positions ``select`` (module docstring)."""

    def __init__(self, mask: torch.Tensor, values: torch.Tensor, hook_points: Sequence[HookPoint]) -> None:
        if mask.dim() != 2 or mask.dtype != torch.bool:
            raise ValueError(f"mask must be bool [L, D]; got {mask.dtype} {tuple(mask.shape)}")
        if values.dim() != 3 or (values.shape[0], values.shape[2]) != tuple(mask.shape):
            raise ValueError(f"values must be [L, P', D] with [L, D] = {list(mask.shape)}; got {list(values.shape)}")
        if len(hook_points) != mask.shape[0]:
            raise ValueError(f"the patch has {mask.shape[0]} layers but the model has {len(hook_points)}")
        self.hook_points = list(hook_points)
        self.select: Select = None  # set before each forward pass, as FFNCapture.select
        self._index = [row.nonzero().squeeze(1) for row in mask.cpu()]  # L x (k,)
        self._values = [values[layer][:, idx] for layer, idx in enumerate(self._index)]  # L x (P', k)

    @property
    def active(self) -> bool:
        return any(len(idx) for idx in self._index)

    def _hook(self, layer: int):
        def hook(module: nn.Module, args: tuple, kwargs: dict):
            key = None if args else next(iter(kwargs))
            x = args[0] if args else kwargs[key]  # (B, T, D)
            idx = self._index[layer].to(x.device)  # (k,)
            v = self._values[layer].to(x.device, x.dtype)  # (P', k)
            select, batch = self.select, x.shape[0]
            x = x.clone()
            if isinstance(select, int):
                select = slice(select, select + 1 or None)
            if isinstance(select, slice):
                if select.stop is not None and select.stop > x.shape[1]:
                    raise ValueError(f"patched positions {select} but the sequence has {x.shape[1]} positions")
                positions = torch.arange(x.shape[1], device=x.device)[select]  # (P',)
                x[:, positions[:, None], idx[None, :]] = v  # (B, P', k) <- (P', k)
            elif isinstance(select, torch.Tensor):
                pos = select.to(x.device, torch.long)
                pos = pos[:, None] if pos.dim() == 1 else pos  # (B, P')
                if pos.shape[0] != batch:
                    raise ValueError(f"per-row positions must have B = {batch} rows; got {tuple(pos.shape)}")
                rows = torch.arange(batch, device=x.device)
                x[rows[:, None, None], pos[:, :, None], idx[None, None, :]] = v  # (B, P', k) <- (P', k)
            else:
                raise ValueError(f"patch positions must be an int, a slice or per-row positions; got {select!r}")
            return ((x, *args[1:]), kwargs) if args else (args, {**kwargs, key: x})

        return hook

    @contextmanager
    def armed(self, model: nn.Module) -> Iterator[Patch]:
        """Register the hooks on ``model`` for the block; removed in ``finally``."""
        handles = []
        try:
            for layer, point in enumerate(self.hook_points):
                if not len(self._index[layer]):
                    continue
                try:
                    module = model.get_submodule(point.module_name)
                except AttributeError:
                    raise ValueError(f"hook point {point.name!r}: no module {point.module_name!r} in "
                                     f"{type(model).__name__}") from None
                handles.append(module.register_forward_pre_hook(self._hook(layer), with_kwargs=True, prepend=True))
            yield self
        finally:
            for handle in handles:
                handle.remove()


def patch_outcomes(clean_pred: Sequence[int], adv_pred: Sequence[int], gold: Sequence[int],
                   adv_patched: Sequence[int], clean_patched: Sequence[int]) -> dict:
    """Restored flips and broken correct predictions over the pairs (see the module docstring).

    ``adv_patched``: the adversarial documents' predictions with the clean values; ``clean_patched``:
    the clean documents' with the adversarial values. Fractions are None without pairs to count.
    """
    flipped = [i for i, (c, a) in enumerate(zip(clean_pred, adv_pred, strict=True)) if c != a]
    correct = [i for i, (c, g) in enumerate(zip(clean_pred, gold, strict=True)) if c == g]
    restored = sum(adv_patched[i] == clean_pred[i] for i in flipped)
    broken = sum(clean_patched[i] != gold[i] for i in correct)
    changed = sum(p != a for p, a in zip(adv_patched, adv_pred, strict=True))
    return {"pairs": len(clean_pred), "flipped": len(flipped), "restored": restored,
            "restored_fraction": restored / len(flipped) if flipped else None,
            "clean_correct": len(correct), "broken": broken,
            "broken_fraction": broken / len(correct) if correct else None,
            "adv_changed_fraction": changed / len(adv_pred) if len(adv_pred) else None}
