"""FFN activation capture: where each architecture's neurons are, and hooks that keep few positions.

A neuron is one unit of a layer's FFN intermediate activation after its nonlinearity, i.e. the
*input* of the FFN's down-projection (for gated FFNs the gated product act(gate) * up), so a
forward pre-hook on the down-projection sees exactly the activations of the
papers (README, "Skill neurons").
:func:`ffn_hook_points` finds one such module per layer and names it stably:

======================================  ========================  ==================================
family (models)                         module (relative path)    stable name
======================================  ========================  ==================================
``t5`` (T5, mT5, Flan-T5, UMT5; relu    ``encoder.block.{i}.      ``encoder.layer.{i}.ffn``
and gated-gelu; **encoder only**)       layer.{j}.DenseReluDense
                                        .wo``
``bert`` (BERT, RoBERTa, DeBERTa(-v2),  ``encoder.layer.{i}.      ``encoder.layer.{i}.ffn``
ELECTRA, XLM-R; ``intermediate``        output.dense``
output == ``output.dense`` input)
``gpt2`` (GPT-2)                        ``h.{i}.mlp.c_proj``      ``decoder.layer.{i}.ffn``
``llama`` (Llama, Mistral, Qwen, Gemma  ``layers.{i}.mlp.         ``decoder.layer.{i}.ffn``
... gated)                              down_proj``
``generic`` (fallback: DistilBERT,      the one module per layer  ``encoder.layer.{i}.ffn`` under an
BART/OPT, GPT-J, GPT-NeoX, Falcon...)   named ``down_proj``,      ``encoder`` segment, else
                                        ``fc2``, ``lin2``,        ``layer.{i}.ffn``
                                        ``dense_4h_to_h``,
                                        ``fc_out``, ``w2``,
                                        ``c_proj``, ``wo``
======================================  ========================  ==================================

Paths match anywhere under prefixes (``bert.``, ``model.``, PEFT's ``base_model.model.``). The
generic fallback skips attention modules, keeps the encoder of an encoder-decoder model, and
needs exactly one candidate per layer (mixture-of-experts models need explicit hook points;
explicit module names are called ``layer.{i}.ffn`` in the order given). The layer index is the
last integer in the module path.
:func:`capture_ffn` is a context manager that registers forward pre-hooks on those modules,
keeps per row only the selected positions (a slice such as the soft-prompt positions, or one
index per row such as the last context token), so that only [B, L, P', D] is ever held, and
removes the hooks in ``finally``. Activations stay on the model's device and dtype.
:func:`run_until` runs a module only as far as the last hook point: a hook on it raises a private
exception that ends the forward pass once every layer's activation is captured (a capture-only
pass, such as the skill-neuron baseline, needs nothing after it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

#: What ``select`` may be: None (all positions), an int or a slice of positions (same for every
#: row), an int64 tensor [B] (one position per row) or [B, P'] (P' per row), or a callable
#: mapping the down-projection input [B, T, D] to [B, P', D].
Select = None | int | slice | torch.Tensor | Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class HookPoint:
    """One layer's FFN activation: the input of module ``module_name`` in ``named_modules()``."""

    name: str  # stable name, e.g. "encoder.layer.3.ffn"
    layer: int  # 0-based layer index within the stack
    module_name: str  # full path in model.named_modules(), prefixes included
    family: str  # "t5", "bert", "gpt2", "llama", "generic" or "explicit"
    width: int | None = None  # D, the down-projection's input features, when known


@dataclass(frozen=True)
class _Rule:
    family: str
    stack: str
    pattern: re.Pattern[str]


_RULES = (
    # T5 encoder FFN: the last sub-layer of each block (layer.1 in the encoder).
    _Rule("t5", "encoder", re.compile(r"(?:^|\.)encoder\.block\.(\d+)\.layer\.\d+\.DenseReluDense\.wo$")),
    # BERT-like: encoder.layer.i.output.dense (not attention.output.dense).
    _Rule("bert", "encoder", re.compile(r"(?:^|\.)encoder\.layer\.(\d+)\.output\.dense$")),
    _Rule("gpt2", "decoder", re.compile(r"(?:^|\.)h\.(\d+)\.mlp\.c_proj$")),
    _Rule("llama", "decoder", re.compile(r"(?:^|\.)layers\.(\d+)\.mlp\.down_proj$")),
)
_GENERIC_TAILS = ("down_proj", "fc2", "lin2", "dense_4h_to_h", "fc_out", "w2", "c_proj", "wo")
_ATTENTION = re.compile(r"(?:^|\.)(?:\w*attn\w*|\w*attention\w*)(?:\.|$)", re.IGNORECASE)


def _width(module: nn.Module) -> int | None:
    if isinstance(module, nn.Linear):
        return module.in_features
    weight = getattr(module, "weight", None)
    if isinstance(weight, torch.Tensor) and weight.dim() == 2:
        # transformers' Conv1D (GPT-2) stores [in, out]; nn.Linear-like modules [out, in].
        return int(weight.shape[0] if type(module).__name__ == "Conv1D" else weight.shape[1])
    return getattr(module, "in_features", None)


def _by_layer(model: nn.Module, found: list[tuple[int, str, nn.Module]], family: str, stack: str) -> list[HookPoint]:
    layers: dict[int, list[str]] = {}
    for layer, name, _ in found:
        layers.setdefault(layer, []).append(name)
    duplicated = {k: v for k, v in layers.items() if len(v) > 1}
    if duplicated:
        raise ValueError(
            f"{type(model).__name__}: more than one FFN down-projection per layer "
            f"({family} rule): {duplicated}. Pass hook_points explicitly (module names, one per layer)."
        )
    if sorted(layers) != list(range(len(layers))):
        raise ValueError(
            f"{type(model).__name__}: FFN layers found are {sorted(layers)}, not 0..{len(layers) - 1}. "
            "Is the model split across devices or partially loaded?"
        )
    modules = {name: module for _, name, module in found}
    return [
        HookPoint(
            name=f"{stack}.layer.{i}.ffn" if stack else f"layer.{i}.ffn",
            layer=i,
            module_name=layers[i][0],
            family=family,
            width=_width(modules[layers[i][0]]),
        )
        for i in sorted(layers)
    ]


def ffn_hook_points(model: nn.Module) -> list[HookPoint]:
    """One :class:`HookPoint` per layer, in layer order (see the module docstring for names)."""
    named = list(model.named_modules())
    for rule in _RULES:
        found = [(int(m.group(1)), name, module) for name, module in named if (m := rule.pattern.search(name))]
        if found:
            return _by_layer(model, found, rule.family, rule.stack)
    candidates = []
    for name, module in named:
        parts = name.split(".")
        if parts[-1] not in _GENERIC_TAILS or _ATTENTION.search(name) or _width(module) is None:
            continue
        numbers = [int(p) for p in parts if p.isdigit()]
        if numbers:
            candidates.append((numbers[-1], name, module))
    in_encoder = [c for c in candidates if "encoder" in c[1].split(".")]
    if in_encoder:
        return _by_layer(model, in_encoder, "generic", "encoder")
    if candidates:
        return _by_layer(model, candidates, "generic", "")
    raise ValueError(
        f"No FFN down-projection found in {type(model).__name__}: looked for T5 "
        "'encoder.block.{i}.layer.{j}.DenseReluDense.wo', BERT-like 'encoder.layer.{i}.output.dense', "
        "GPT-2 'h.{i}.mlp.c_proj', Llama-like 'layers.{i}.mlp.down_proj', and per-layer modules "
        f"named {', '.join(_GENERIC_TAILS)}. Pass hook_points explicitly (the module names whose "
        "input is each layer's FFN activation)."
    )


def select_positions(x: torch.Tensor, select: Select) -> torch.Tensor:
    """Keep the selected positions of a down-projection input x [B, T, D] -> [B, P', D].

    Slices and ints are copied (a view would keep the whole [B, T, D] alive); a slice whose
    stop lies beyond T is an error rather than silently fewer positions.
    """
    if select is None:
        return x  # (B, T, D)
    if isinstance(select, int):
        select = slice(select, select + 1 or None)  # -1 -> slice(-1, None)
    if isinstance(select, slice):
        seq_len = x.shape[1]
        if select.stop is not None and select.stop > seq_len:
            raise ValueError(f"selected positions {select} but the sequence has only {seq_len} positions")
        return x[:, select].clone()  # (B, P', D)
    if isinstance(select, torch.Tensor):
        batch = x.shape[0]
        idx = select.to(device=x.device, dtype=torch.long)
        if idx.shape[0] != batch or idx.dim() not in (1, 2):
            raise ValueError(
                f"per-row positions must have shape [B] or [B, P'] with B = {batch}; got {tuple(idx.shape)}"
            )
        rows = torch.arange(batch, device=x.device)  # (B,)
        if idx.dim() == 1:
            return x[rows, idx].unsqueeze(1)  # (B, D) -> (B, 1, D)
        return x[rows.unsqueeze(1), idx]  # (B, P', D)
    if callable(select):
        return select(x)  # (B, P', D)
    raise TypeError(f"unsupported select {select!r}: use None, int, slice, tensor or callable")


class FFNCapture:
    """Activations gathered by :func:`capture_ffn`; read them with :meth:`take`.

    ``select`` may be changed between forward passes (e.g. the last context token of each new
    batch). ``enabled`` (or :meth:`paused`) turns collection off without removing the hooks.
    """

    def __init__(self, hook_points: Sequence[HookPoint], select: Select = None) -> None:
        self.hook_points = tuple(hook_points)
        self.select: Select = select
        self.enabled = True
        self._per_layer: list[list[torch.Tensor]] = [[] for _ in self.hook_points]

    @property
    def num_layers(self) -> int:
        """L, the number of hooked layers."""
        return len(self.hook_points)

    @property
    def pending(self) -> int:
        """Forward passes gathered since the last :meth:`take` (by the first layer's count)."""
        return len(self._per_layer[0]) if self._per_layer else 0

    def _hook(self, layer: int) -> Callable:
        def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
            if not self.enabled:
                return None
            x = args[0] if args else next(iter(kwargs.values()))  # (B, T, D)
            select = self.select
            if isinstance(select, torch.Tensor) and (select.device != x.device or select.dtype != torch.long):
                # Move per-row positions once per batch, not once per layer.
                select = self.select = select.to(device=x.device, dtype=torch.long)
            self._per_layer[layer].append(select_positions(x.detach(), select))
            return None

        return hook

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Forward passes inside this block are not gathered."""
        previous, self.enabled = self.enabled, False
        try:
            yield
        finally:
            self.enabled = previous

    def clear(self) -> None:
        """Drop everything gathered so far."""
        for buf in self._per_layer:
            buf.clear()

    def take(self) -> torch.Tensor:
        """Activations of the passes since the last take, [N, L, P', D] (N rows over passes).

        Clears the buffer. Raises RuntimeError when no pass ran or when layers saw different
        numbers of passes (a forward pass that stopped early).
        """
        counts = [len(buf) for buf in self._per_layer]
        if len(set(counts)) != 1:
            names = [p.name for p in self.hook_points]
            self.clear()
            raise RuntimeError(
                f"layers saw different numbers of forward passes: {dict(zip(names, counts, strict=True))}"
            )
        if counts[0] == 0:
            raise RuntimeError("no forward pass ran inside capture_ffn since the last take()")
        passes = [
            torch.stack([buf[i] for buf in self._per_layer], dim=1)  # L x (B, P', D) -> (B, L, P', D)
            for i in range(counts[0])
        ]
        self.clear()
        return passes[0] if len(passes) == 1 else torch.cat(passes, dim=0)  # (N, L, P', D)


def _resolve(model: nn.Module, hook_points: Sequence[HookPoint | str] | None) -> list[HookPoint]:
    if hook_points is None:
        return ffn_hook_points(model)
    points = [
        p if isinstance(p, HookPoint) else HookPoint(f"layer.{i}.ffn", i, p, "explicit")
        for i, p in enumerate(hook_points)
    ]
    if not points:
        raise ValueError("hook_points is empty: nothing to capture")
    return points


@contextmanager
def capture_ffn(
    model: nn.Module,
    select: Select = None,
    hook_points: Sequence[HookPoint | str] | None = None,
) -> Iterator[FFNCapture]:
    """Capture FFN activations of ``model`` during the forward passes inside the block.

    ``hook_points``: default :func:`ffn_hook_points`; or HookPoints / module names, one per
    layer, in layer order. Every one must resolve to a module of ``model`` (ValueError naming
    the missing one otherwise). The hooks are removed on exit, also after an exception; what
    was gathered can still be taken after the block::

        with capture_ffn(model, select=slice(0, num_prompt_tokens)) as cap:
            model(**batch)
            acts = cap.take()  # (B, L, P, D)
    """
    points = _resolve(model, hook_points)
    capture = FFNCapture(points, select)
    handles = []
    try:
        for layer, point in enumerate(points):
            try:
                module = model.get_submodule(point.module_name)
            except AttributeError:
                raise ValueError(
                    f"hook point {point.name!r}: no module {point.module_name!r} in {type(model).__name__}"
                ) from None
            handles.append(module.register_forward_pre_hook(capture._hook(layer), with_kwargs=True))
        yield capture
    finally:
        for handle in handles:
            handle.remove()
        capture.enabled = False


class _StopForward(Exception):
    """Raised by :func:`run_until`'s hook to end a forward pass; never escapes :func:`run_until`."""


def _stop(module: nn.Module, args: tuple, kwargs: dict) -> None:
    raise _StopForward


def run_until(module: nn.Module, last: nn.Module, /, **inputs) -> None:
    """``module(**inputs)``, stopped as soon as ``last`` is called (before it computes anything).

    ``last`` is the module of the last hook point (its input is the last activation a capture
    keeps). The stopping hook is registered after any hooks already on ``last`` (those of
    :func:`capture_ffn`), so they still see the input; it is removed in ``finally``. Raises
    RuntimeError when the pass ended without reaching ``last`` (it is not part of ``module``).
    """
    handle = last.register_forward_pre_hook(_stop, with_kwargs=True)
    try:
        module(**inputs)
    except _StopForward:
        return
    finally:
        handle.remove()
    raise RuntimeError(f"the forward pass of {type(module).__name__} never reached the last hook point "
                       f"({type(last).__name__}); nothing after it was skipped")
