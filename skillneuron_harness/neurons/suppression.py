"""Suppressing skill neurons: the causal test of Wang et al. (2022) and Ackermann & Ohmer (2024).

``prompt_tuned`` takes ``suppress=FILE`` (a ``<task>.safetensors`` written by an earlier
``skill_neurons=`` run) and overwrites the selected neurons' FFN activations, i.e. the input of
each layer's down-projection (the hook points of :mod:`~skillneuron_harness.neurons.capture`),
at **all** positions of every forward pass of the run::

    lm_eval --model prompt_tuned --tasks sst2,adv_sst2 --model_args \\
        pretrained=M,prompt=P,suppress=sn/sst2.safetensors,suppress_top=0.05,suppress_mode=zero

Selection (``suppress_control``): ``skill`` takes the top ``suppress_top`` fraction of each
layer's neurons by the file's ``score`` [L, D] (floor(f x D), ties to the higher index, as
:func:`~skillneuron_harness.neurons.selection.top_fraction_mask`); ``random`` takes the same
number per layer uniformly at random, ``torch.randperm(D)[:k]`` per layer in layer order from
``torch.Generator().manual_seed(suppress_seed)``, so a seed names one fixed set of neurons.

Modes (``suppress_mode``):

* ``zero``: the activation becomes 0.
* ``mean``: the activation becomes the file's ``baseline`` [L, P, D] (the mean activation over
  the baseline documents). Position t < P of the forward pass gets ``baseline[l, t]``; positions
  t >= P (and files whose baseline was taken at one position per row, ``sn_positions=last`` or
  ``mask``, where P = 1) get the mean over the baseline's positions, ``baseline[l].mean(0)``.
  Positions count the virtual tokens; for T5 they are encoder positions.
* ``mean_avg``: Wang et al.'s mean mode: the baseline averaged over its positions,
  ``baseline[l].mean(0)``, at every position (Skill-Neuron ``src/modelzoo.py:63-64, 70-77``).
* ``noise``: Gaussian noise N(0, sigma^2) is **added** to the activation (``suppress_sigma``,
  0.1 in Wang et al.), one draw per document, position and neuron, from a generator seeded with
  ``suppress_seed`` on the model's device, so a run is reproducible for a fixed order of forward
  passes.
* ``noise_doc``: Wang et al.'s noise mode: one draw per document and neuron, **shared across
  positions** (``torch.randn([B, 3072]) * alpha`` broadcast over the sequence,
  ``src/modelzoo.py:82-88``).

For a multi-class file (``subtask_score`` [S, L, D]) ``skill`` takes Wang et al.'s union of the
subtasks' top neurons (:func:`~skillneuron_harness.neurons.selection.skill_neuron_mask`). Pass
the file of ``skillneuron average`` to suppress the seed-mean neuron set for every seed, as
Ackermann & Ohmer do (``skill_neurons_across_layer/<task>_mean.npy``, Robust-Neurons
``src/utils.py:296-312``).

The hooks are forward pre-hooks registered first on each module (``prepend=True``), so the
down-projection, and any activation capture (``skill_neurons=``) of the same run, see the
suppressed values. :meth:`Suppression.armed` registers them for a block and removes them in
``finally``; ``prompt_tuned`` arms them around its own forward passes only.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from skillneuron_harness.core.observers import ScoringObserver
from skillneuron_harness.core.options import (
    ModelArgsError,
    OptionGroup,
    StrEnum,
    as_choice,
    as_float,
    as_seed,
    as_str,
)
from skillneuron_harness.neurons.capture import HookPoint, ffn_hook_points
from skillneuron_harness.neurons.selection import Ties, skill_neuron_mask

log = logging.getLogger(__name__)


class SuppressMode(StrEnum):
    """``suppress_mode=``: what replaces a suppressed activation (see the module docstring)."""

    ZERO = "zero"
    MEAN = "mean"
    MEAN_AVG = "mean_avg"
    NOISE = "noise"
    NOISE_DOC = "noise_doc"


class SuppressControl(StrEnum):
    """``suppress_control=``: which neurons are suppressed."""

    SKILL = "skill"
    RANDOM = "random"


MODES = SuppressMode.values()
CONTROLS = SuppressControl.values()


@dataclass
class SuppressionConfig(OptionGroup):
    """The ``suppress`` + ``suppress_*`` model_args of ``prompt_tuned``."""

    PREFIX: ClassVar[str] = "suppress_"
    SWITCH: ClassVar[str | None] = "suppress"

    file: str = field(metadata={"arg": "suppress", "default": "none",
                                "help": "skill-neuron file; its `score` [L, D] ranks the neurons"})
    top: float = field(default=0.05, metadata={
        "help": "fraction of each layer's neurons (floor(top x D) per layer; one that rounds down to none warns); "
                "`0` leaves the model untouched"})
    mode: SuppressMode = field(default=SuppressMode.ZERO, metadata={
        "help": "`zero`; `mean`: the file's `baseline` [L, P, D] (positions beyond P, and one-position baselines, "
                "get the mean over positions); `mean_avg`: the baseline averaged over positions everywhere (Wang et "
                "al.); `noise`: adds N(0, `suppress_sigma`^2), a draw per position; `noise_doc`: one draw per "
                "document shared by all positions (Wang et al.)"})
    sigma: float = field(default=0.1, metadata={"help": "noise standard deviation"})
    control: SuppressControl = field(default=SuppressControl.SKILL, metadata={
        "help": "`skill`: the top `suppress_top` by score; `random`: as many per layer, drawn with `suppress_seed`"})
    seed: int = field(default=0, metadata={"help": "seed of the random control and of the noise"})
    ties: Ties = field(default=Ties.HIGH, metadata={
        "help": "among neurons of equal score: `high` keeps the higher index (Ackermann & Ohmer), `low` the lower "
                "(Wang et al.)"})

    def __post_init__(self):
        self.file = as_str("suppress", self.file)
        self.top = as_float("suppress_top", self.top, example=0.05)
        self.sigma = as_float("suppress_sigma", self.sigma, example=0.1)
        self.seed = as_seed("suppress_seed", self.seed)
        self.mode = as_choice("suppress_mode", self.mode, SuppressMode)
        self.control = as_choice("suppress_control", self.control, SuppressControl)
        self.ties = as_choice("suppress_ties", self.ties, Ties)
        # Readable, complete, with a `score` (and a `baseline` for mode=mean), before any model is loaded.
        from skillneuron_harness.neurons.validate import check_neuron_file

        need = ("score", "baseline") if self.mode in (SuppressMode.MEAN, SuppressMode.MEAN_AVG) else ("score",)
        self.file_info = check_neuron_file(self.file, "suppress", require=need)
        if not 0.0 <= self.top <= 1.0:
            raise ModelArgsError(f"suppress_top={self.top}: a fraction of each layer's neurons in [0, 1], e.g. "
                                 "0.05.")
        if self.sigma < 0:
            raise ModelArgsError(f"suppress_sigma={self.sigma}: a standard deviation must be >= 0.")


def select_neurons(score: torch.Tensor, fraction: float, control: str = "skill", seed: int = 0,
                   subtask_score: torch.Tensor | None = None, ties: str = "high") -> torch.Tensor:
    """Neurons to suppress, bool [L, D]: the skill neurons, or as many per layer at random.

    Skill neurons: the per-layer top ``fraction`` by score, or Wang et al.'s union for
    ``subtask_score`` [S, L, D].
    """
    if control == "skill":
        return skill_neuron_mask(score, fraction, subtask_score, ties)  # (L, D)
    if control != "random":
        raise ValueError(f"control={control}: use one of {', '.join(CONTROLS)}.")
    num_layers, num_neurons = score.shape
    per_layer = skill_neuron_mask(score, fraction, subtask_score, ties).sum(1).tolist()  # (L,) k per layer
    mask = torch.zeros(num_layers, num_neurons, dtype=torch.bool)  # (L, D)
    gen = torch.Generator().manual_seed(seed)
    for layer in range(num_layers):
        mask[layer, torch.randperm(num_neurons, generator=gen)[:per_layer[layer]]] = True
    return mask


def _sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Suppression(ScoringObserver):
    """Selected neurons per layer and what to put in their place; arm with :meth:`armed`.

    As a :class:`~skillneuron_harness.core.observers.ScoringObserver` of ``prompt_tuned`` it arms its
    hooks around every forward pass (:meth:`interventions`) and reports :meth:`info`.
    """

    def __init__(
        self,
        mask: torch.Tensor,
        mode: str = "zero",
        *,
        baseline: torch.Tensor | None = None,
        sigma: float = 0.1,
        seed: int = 0,
        hook_points: Sequence[HookPoint] | None = None,
        info: dict | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode={mode}: use one of {', '.join(MODES)}.")
        if mask.dim() != 2 or mask.dtype != torch.bool:
            raise ValueError(f"mask must be bool [L, D]; got {mask.dtype} {tuple(mask.shape)}")
        if mode in ("mean", "mean_avg"):
            if baseline is None:
                raise ValueError(f"mode={mode} needs the baseline [L, P, D] of the skill-neuron file (a run's "
                                 "file: an average of several prompts has none).")
            if baseline.dim() != 3 or (baseline.shape[0], baseline.shape[2]) != tuple(mask.shape):
                raise ValueError(f"baseline must be [L, P, D] with [L, D] = {list(mask.shape)}; got "
                                 f"{list(baseline.shape)}")
        self.mask = mask.cpu()  # (L, D)
        self.mode = mode
        self.baseline = None if baseline is None else baseline.detach().cpu().to(torch.float32)  # (L, P, D)
        self.sigma = float(sigma)
        self.seed = int(seed)
        self.hook_points = list(hook_points) if hook_points is not None else None
        self.info_extra = dict(info or {})
        # per layer: neuron indices (k,) and, for mode=mean, the values (P + 1, k): row P = mean over positions
        self._index = [row.nonzero().squeeze(1) for row in self.mask]
        self._values = None
        if self.baseline is not None:
            table = torch.cat([self.baseline, self.baseline.mean(1, keepdim=True)], dim=1)  # (L, P + 1, D)
            self._values = [table[layer][:, idx] for layer, idx in enumerate(self._index)]  # L x (P + 1, k)
        self._generator: torch.Generator | None = None

    # ------------------------------------------------------------- building
    @classmethod
    def from_config(cls, model: nn.Module, config: SuppressionConfig,
                    hook_points: Sequence[HookPoint] | None = None, *, model_name: str | None = None,
                    backend: str | None = None) -> Suppression:
        """Read ``config.file``, check it fits ``model`` (and ``model_name`` / ``backend``) and select the neurons."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        from skillneuron_harness.neurons.validate import NeuronFileError, check_fits

        points = list(hook_points) if hook_points is not None else ffn_hook_points(model)
        widths = {p.width for p in points}
        check_fits(config.file_info, model=model_name, backend=backend, layers=len(points),
                   width=next(iter(widths)) if len(widths) == 1 and None not in widths else None)
        try:
            tensors = load_file(config.file)
        except (SafetensorError, OSError) as err:
            raise NeuronFileError(f"suppress={config.file}: cannot be read ({err}).") from None
        score = tensors["score"]  # (L, D)
        mask = select_neurons(score, config.top, config.control, config.seed,
                              tensors.get("subtask_score"), str(config.ties))  # (L, D)
        if config.top > 0 and not mask.any():  # floor(top x D) = 0 in every layer
            log.warning("suppress_top=%g selects no neuron of the %d per layer (floor(top x %d) = 0): this run is the "
                        "unsuppressed model. Pass suppress_top=%g or more to suppress one per layer.", config.top,
                        score.shape[1], score.shape[1], 1 / score.shape[1])
        baseline = tensors.get("baseline") if config.mode in ("mean", "mean_avg") else None
        info = {"file": str(config.file), "file_sha256": _sha256(config.file), "top": config.top,
                "mode": str(config.mode), "sigma": config.sigma if str(config.mode).startswith("noise") else None,
                "control": str(config.control), "seed": config.seed}
        return cls(mask, config.mode, baseline=baseline, sigma=config.sigma, seed=config.seed,
                   hook_points=points, info=info)

    # ------------------------------------------------------------- recording
    @property
    def per_layer(self) -> list[int]:
        """Suppressed neurons per layer."""
        return self.mask.sum(1).tolist()

    @property
    def active(self) -> bool:
        """Whether any neuron is suppressed (``top=0`` arms no hook at all)."""
        return bool(self.mask.any())

    def info(self) -> dict:
        """What the results JSON records (``config.suppression``)."""
        return {**self.info_extra, "neurons_per_layer": self.per_layer,
                "hook_points": [p.name for p in self.hook_points or ()]}

    def model_info(self) -> dict:
        return {"suppression": self.info()}

    def interventions(self, model: nn.Module):
        return self.armed(model)

    # ------------------------------------------------------------- hooks
    def _hook(self, layer: int):
        index = self._index[layer]  # (k,)

        def hook(module: nn.Module, args: tuple, kwargs: dict):
            if args:
                x = args[0]
            else:
                key = next(iter(kwargs))
                x = kwargs[key]
            # x: (B, T, D) down-projection input (any leading dims; neurons last)
            idx = index.to(x.device)
            x = x.clone()
            if self.mode == "zero":
                x[..., idx] = 0
            elif self.mode == "mean":
                values = self._values[layer].to(x.device, x.dtype)  # (P + 1, k)
                seq_len, num_positions = x.shape[-2], values.shape[0] - 1
                rows = torch.arange(seq_len, device=x.device).clamp(max=num_positions)  # (T,): >= P -> row P
                x[..., idx] = values[rows]  # (T, k) broadcast over the batch
            elif self.mode == "mean_avg":
                x[..., idx] = self._values[layer][-1].to(x.device, x.dtype)  # (k,): row P, the position mean
            else:
                if self._generator is None or self._generator.device != x.device:
                    self._generator = torch.Generator(device=x.device).manual_seed(self.seed)
                shape = (*x.shape[:-1], len(idx)) if self.mode == "noise" else (*x.shape[:-2], 1, len(idx))
                noise = torch.randn(*shape, generator=self._generator, device=x.device,
                                    dtype=torch.float32)  # (B, T, k), or (B, 1, k) shared over positions
                x[..., idx] = x[..., idx] + (self.sigma * noise).to(x.dtype)
            if args:
                return (x, *args[1:]), kwargs
            return args, {**kwargs, key: x}

        return hook

    @contextmanager
    def armed(self, model: nn.Module) -> Iterator[Suppression]:
        """Register the hooks on ``model`` for the block; removed in ``finally``."""
        points = self.hook_points if self.hook_points is not None else ffn_hook_points(model)
        if len(points) != self.mask.shape[0]:
            raise ValueError(f"the suppression mask has {self.mask.shape[0]} layers but the model has {len(points)}")
        handles = []
        try:
            if self.active:
                for layer, point in enumerate(points):
                    if len(self._index[layer]) == 0:
                        continue
                    try:
                        module = model.get_submodule(point.module_name)
                    except AttributeError:
                        raise ValueError(f"hook point {point.name!r}: no module {point.module_name!r} in "
                                         f"{type(model).__name__}") from None
                    handles.append(module.register_forward_pre_hook(self._hook(layer), with_kwargs=True,
                                                                    prepend=True))
            yield self
        finally:
            for handle in handles:
                handle.remove()
