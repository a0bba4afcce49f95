"""Load a soft prompt (P virtual tokens x d) from wherever users keep one.

Accepted ``prompt=`` values:

* a PEFT prompt-tuning adapter: a local folder with ``adapter_config.json`` or a Hub id. The
  tensor is ``prompt_embeddings`` [P x num_transformer_submodules, d]; the first P rows are the
  encoder's (T5 gets the prompt in its encoder only, as in the papers).
* a plain tensor file of shape [P, d]: ``.safetensors`` (one tensor), ``.pt`` / ``.pth`` /
  ``.bin`` (a tensor, or a dict holding exactly one, read with ``torch.load(weights_only=True)``
  so that no pickled code runs), or ``.npy`` (read without pickle).
* the published prompts of two projects, whose layouts differ from plain prepending (see
  :mod:`skillneuron_harness.prompts.layouts` for how each is placed in the model's input):
  ``skill_neuron`` (THU-KEG/Skill-Neuron ``best-backbone``: a torch pickle
  ``{"prompt": [1, P-1, d], "pos": [verbalizer ids]}``) and ``prompt_transferability``
  (thunlp/Prompt-Transferability and LeonAckermann/Robust-Neurons: ``task_prompt``, a raw
  [100, d] tensor in a torch pickle; the training checkpoints ``<epoch>_task_prompt.pkl`` and
  ``<epoch>.pkl``, dicts ``{"model": [100, d], "optimizer": AdamW state, "trained_epoch",
  "global_step"}``; ``latest.pt``, a float16 [1, 100, d] tensor of the T5-XXL prompts).

``format="auto"`` (the default) detects the format: a folder or Hub id is ``peft``; a pickled dict
with ``prompt`` and ``pos`` is ``skill_neuron``; a Prompt-Transferability training checkpoint (a
dict with a ``model`` tensor and ``trained_epoch`` / ``global_step`` / ``optimizer``) is
``prompt_transferability`` whatever its name; a pickled tensor named as those projects name theirs
(``task_prompt``, ``latest.pt``) or inside a release folder ``<Task>Prompt<Model>`` is
``prompt_transferability``; any other tensor file is ``tensor``. A raw [100, d] tensor under
another name cannot be told apart from a plain prompt: pass the format.

The release folder also names the base model the file was trained on
(:mod:`skillneuron_harness.prompts.release`); it is kept in :attr:`SoftPrompt.release` and
recorded with the results.

Every failure raises :class:`PromptError` with one line naming the argument, the file and the fix.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from skillneuron_harness.core.errors import SkillNeuronError
from skillneuron_harness.prompts.release import ReleaseInfo, release_info
from skillneuron_harness.prompts.release import hidden_size as release_hidden_size
from skillneuron_harness.prompts.release import model_kind as release_model_kind

TENSOR_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".npy")
FORMATS = ("peft", "tensor", "skill_neuron", "prompt_transferability")
# Positions the model sees beyond the stored vectors: Skill-Neuron stores P-1 vectors and puts the
# <mask> embedding in front of them.
EXTRA_POSITIONS = {"skill_neuron": 1}


class PromptError(SkillNeuronError):
    """A soft prompt that cannot be used, with the reason and the fix."""


@dataclass
class SoftPrompt:
    """A soft prompt and where it came from."""

    embeddings: torch.Tensor  # (P_stored, d) float32, as stored in the file
    source: str
    format: str  # one of FORMATS
    task_type: str | None = None  # PEFT task_type, when known
    base_model: str | None = None  # PEFT base_model_name_or_path, when known
    verbalizer: list[int] | None = None  # token ids the prompt was trained to predict (skill_neuron "pos")
    release: ReleaseInfo | None = None  # the <Task>Prompt<Model> folder it came from, if any
    checkpoint: dict | None = None  # trained_epoch / global_step of a training checkpoint

    @property
    def num_virtual_tokens(self) -> int:
        """Positions the prompt occupies in the model's input (the stored vectors and any added <mask>)."""
        return self.embeddings.shape[0] + EXTRA_POSITIONS.get(self.format, 0)

    @property
    def width(self) -> int:
        return self.embeddings.shape[1]

    @property
    def sha256(self) -> str:
        """Hash of the float32 tensor bytes and shape: identifies what was evaluated."""
        tensor = self.embeddings.detach().to(torch.float32).contiguous().cpu()
        digest = hashlib.sha256(str(tuple(tensor.shape)).encode())
        digest.update(tensor.numpy().tobytes())
        return digest.hexdigest()

    def info(self) -> dict:
        info = {
            "prompt_source": self.source,
            "prompt_format": self.format,
            "prompt_num_virtual_tokens": self.num_virtual_tokens,
            "prompt_sha256": self.sha256,
        }
        if self.verbalizer is not None:
            info["prompt_verbalizer"] = list(self.verbalizer)
        if self.release is not None:
            info.update(self.release.info())
        if self.checkpoint:
            info["prompt_checkpoint"] = dict(self.checkpoint)
        return info


def load_soft_prompt(source: str, arg: str = "prompt", format: str = "auto") -> SoftPrompt:
    """Load the soft prompt named by ``source`` in ``format`` (see the module docstring)."""
    if format not in ("auto", *FORMATS):
        raise PromptError(f"prompt_format={format}: unknown format; use auto or one of {', '.join(FORMATS)}.")
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / "adapter_config.json").is_file():
            raise PromptError(
                f"{arg}={source}: the folder has no adapter_config.json; pass a PEFT prompt-tuning "
                f"adapter folder or a tensor file ({', '.join(TENSOR_SUFFIXES)})."
            )
        _expect(format, "peft", source, arg, "a PEFT adapter folder")
        check_adapter_config(path / "adapter_config.json", arg)
        return _load_peft(str(path), source, arg)
    if path.is_file():
        if format == "peft":
            raise PromptError(f"{arg}={source}: prompt_format=peft needs an adapter folder (with "
                              "adapter_config.json) or a Hub id, not a file; drop prompt_format= to detect it.")
        return _load_file(path, source, arg, format)
    if path.suffix in TENSOR_SUFFIXES or source.startswith((".", "/", "~")):
        raise PromptError(f"{arg}={source}: no such file; check the path.")
    _expect(format, "peft", source, arg, "a Hub id (read as a PEFT adapter)")
    return _load_peft(source, source, arg)  # a Hub id


def _expect(format: str, found: str, source: str, arg: str, what: str) -> None:
    if format not in ("auto", found):
        raise PromptError(f"{arg}={source}: prompt_format={format} was given but this is {what}; "
                          f"pass prompt_format={found} or auto.")


def is_transferability_name(path: Path) -> bool:
    """File names of Prompt-Transferability / Robust-Neurons prompts.

    ``task_prompt``, ``18_task_prompt.pkl``, ``69.pkl``, ``latest.pt``.
    """
    return (path.name in ("task_prompt", "latest.pt")
            or (path.suffix == ".pkl" and (path.stem.endswith("task_prompt") or path.stem.isdigit())))


def is_training_checkpoint(loaded) -> bool:
    """A Prompt-Transferability checkpoint: ``{"model": [P, d], "optimizer": ..., "trained_epoch", "global_step"}``."""
    return (isinstance(loaded, dict) and isinstance(loaded.get("model"), torch.Tensor)
            and any(k in loaded for k in ("trained_epoch", "global_step", "optimizer")))


def _load_file(path: Path, source: str, arg: str, format: str) -> SoftPrompt:
    loaded = _load_tensor_file(path, arg, format)
    release = release_info(path)
    checkpoint = None
    if is_training_checkpoint(loaded):
        checkpoint = {k: loaded[k] for k in ("trained_epoch", "global_step") if isinstance(loaded.get(k), int)}
    if format == "auto":
        if isinstance(loaded, dict) and "prompt" in loaded and "pos" in loaded:
            format = "skill_neuron"
        elif checkpoint is not None or (isinstance(loaded, torch.Tensor)
                                        and (is_transferability_name(path) or release is not None)):
            format = "prompt_transferability"
        else:
            format = "tensor"
    if format == "skill_neuron":
        return _skill_neuron(loaded, path, source, arg)
    if checkpoint is not None:
        tensor = loaded["model"]  # (P, d); the optimizer state is not needed
    else:
        tensor = _single_tensor(loaded, path, arg) if isinstance(loaded, dict) else loaded
    return SoftPrompt(_as_matrix(tensor, source, arg), source, format, release=release, checkpoint=checkpoint)


def _skill_neuron(loaded, path: Path, source: str, arg: str) -> SoftPrompt:
    """THU-KEG/Skill-Neuron ``<name>-backbone``: {"prompt": [1, P-1, d], "pos": [verbalizer ids]}."""
    if not isinstance(loaded, dict) or not isinstance(loaded.get("prompt"), torch.Tensor):
        found = sorted(loaded) if isinstance(loaded, dict) else type(loaded).__name__
        raise PromptError(f"{arg}={source}: prompt_format=skill_neuron expects a pickled dict "
                          f"{{'prompt': [1, P-1, d] tensor, 'pos': [verbalizer ids]}}, found {found}.")
    pos = loaded.get("pos")
    if isinstance(pos, torch.Tensor):
        pos = pos.flatten().tolist()
    if pos is not None and not (isinstance(pos, (list, tuple)) and all(isinstance(i, int) for i in pos)):
        raise PromptError(f"{arg}={source}: 'pos' should list the verbalizer's token ids, found {pos!r}.")
    return SoftPrompt(_as_matrix(loaded["prompt"], source, arg), source, "skill_neuron",
                      verbalizer=None if pos is None else [int(i) for i in pos])


def _load_peft(location: str, source: str, arg: str) -> SoftPrompt:
    from peft import PeftConfig, PeftType
    from peft.utils import load_peft_weights

    try:
        config = PeftConfig.from_pretrained(location)
    except Exception as err:  # noqa: BLE001 - peft raises several kinds for "not found"
        if Path(location).is_dir():
            raise PromptError(f"{arg}={source}: adapter_config.json is not a valid PEFT config ({type(err).__name__}: "
                              f"{err}); save the adapter again with save_pretrained.") from err
        raise PromptError(
            f"{arg}={source}: not a local file or folder, and no PEFT adapter could be loaded under "
            f"that Hub id ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})."
        ) from err
    if config.peft_type != PeftType.PROMPT_TUNING:
        raise PromptError(
            f"{arg}={source}: the adapter is {config.peft_type.value}, not PROMPT_TUNING; prompt_tuned "
            "evaluates soft prompts (for LoRA and other adapters use lm-eval's `hf` model with peft=)."
        )
    try:
        weights = load_peft_weights(location)
    except pickle.UnpicklingError:  # torch's message suggests weights_only=False: never for a file you did not make
        raise PromptError(f"{arg}={source}: adapter_model.bin holds objects other than tensors and was not loaded "
                          "(loading it could run code); use an adapter saved as adapter_model.safetensors.") from None
    except Exception as err:  # noqa: BLE001
        raise PromptError(f"{arg}={source}: cannot read the adapter weights ({err}).") from err
    if "prompt_embeddings" not in weights:
        raise PromptError(
            f"{arg}={source}: the adapter weights hold no 'prompt_embeddings' tensor "
            f"(found: {', '.join(sorted(weights)) or 'nothing'})."
        )
    table = _as_matrix(weights["prompt_embeddings"], source, arg)  # (P * n_sub, d)
    P = config.num_virtual_tokens
    if table.shape[0] < P:
        raise PromptError(
            f"{arg}={source}: adapter_config.json says num_virtual_tokens={P} but prompt_embeddings "
            f"has {table.shape[0]} rows; the adapter is corrupt."
        )
    task_type = config.task_type.value if hasattr(config.task_type, "value") else config.task_type
    return SoftPrompt(table[:P], source, "peft", task_type=task_type,
                      base_model=config.base_model_name_or_path)


def _load_tensor_file(path: Path, arg: str, format: str = "tensor"):
    """A tensor, or for torch pickles possibly a dict (resolved by the caller)."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return _single_tensor(load_file(str(path)), path, arg)
        if path.suffix == ".npy":
            return torch.from_numpy(np.load(path, allow_pickle=False))
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        fix = ("`d = torch.load(f, weights_only=False); torch.save({'prompt': d['prompt'], 'pos': "
               "[int(i) for i in d['pos']]}, 'prompt.pt')`" if format == "skill_neuron" else
               "`safetensors.torch.save_file({'prompt': t.detach().contiguous()}, 'prompt.safetensors')`")
        raise PromptError(
            f"{arg}={path}: the pickle holds objects other than tensors and was not loaded (loading "
            f"it could run code). Where you trust the file, re-save only the tensors, e.g. {fix}, and pass that."
        ) from err
    except PromptError:
        raise
    except Exception as err:  # noqa: BLE001 - corrupt files fail in many ways
        raise PromptError(f"{arg}={path}: cannot read the file ({type(err).__name__}: {err}); "
                          "is it truncated or of another format?") from err
    if not isinstance(loaded, (dict, torch.Tensor)):
        raise PromptError(f"{arg}={path}: expected a tensor, found {type(loaded).__name__}.")
    return loaded


def _single_tensor(tensors: dict, path: Path, arg: str) -> torch.Tensor:
    candidates = {k: v for k, v in tensors.items() if isinstance(v, torch.Tensor)}
    for key in ("prompt_embeddings", "prompt"):
        if key in candidates:
            return candidates[key]
    if len(candidates) != 1:
        raise PromptError(
            f"{arg}={path}: expected one tensor (or one named 'prompt' / 'prompt_embeddings'), "
            f"found {sorted(candidates) or 'none'}."
        )
    return next(iter(candidates.values()))


def _as_matrix(tensor: torch.Tensor, source: str, arg: str) -> torch.Tensor:
    if tensor.ndim == 3 and tensor.shape[0] == 1:
        tensor = tensor[0]
    if tensor.ndim != 2 or 0 in tensor.shape:
        raise PromptError(
            f"{arg}={source}: expected a tensor of shape [n_tokens, d_model], found {list(tensor.shape)}."
        )
    if not tensor.is_floating_point():
        raise PromptError(f"{arg}={source}: expected floating-point values, found {tensor.dtype}.")
    return check_finite(tensor.detach().to(torch.float32).contiguous(), source, arg)


def check_finite(tensor: torch.Tensor, source: str, arg: str) -> torch.Tensor:
    """``tensor`` (P, d) if every value is finite; a NaN or inf would make every score NaN (and ``acc`` chance)."""
    bad = ~torch.isfinite(tensor)  # (P, d)
    if bad.any():
        rows = bad.any(1).nonzero().flatten().tolist()  # virtual tokens with a NaN or inf
        raise PromptError(f"{arg}={source}: the prompt holds {int(bad.sum())} NaN or infinite values (virtual "
                          f"tokens {rows[:10]}{' ...' if len(rows) > 10 else ''}); its training diverged. Use an "
                          "earlier checkpoint or retrain with a lower learning rate.")
    return tensor


def check_adapter_config(path: Path, arg: str) -> None:
    """Refuse an ``adapter_config.json`` that is not a JSON object, naming it (peft's error would not)."""
    import json

    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PromptError(f"{arg}={path.parent}: {path} is not valid JSON ({err}); the adapter folder is damaged: "
                          "save the adapter again.") from None
    if not isinstance(config, dict) or "peft_type" not in config:
        raise PromptError(f"{arg}={path.parent}: {path} is not a PEFT adapter config (no 'peft_type'); save the "
                          "adapter again with save_pretrained.")


def check_base_model(prompt, config, pretrained: str, arg: str = "prompt") -> str | None:
    """Raise when the prompt's width differs from the model's hidden size.

    Returns a warning when the release names another model kind. Runs on the config alone, before
    any weights are loaded.
    """
    width = release_hidden_size(config)
    release = prompt.release
    needs = f"; the file was trained on {release.base_model} (folder {release.folder}): pass " \
            f"pretrained={release.base_model}" if release else "; use the base model the prompt was trained for"
    if width is not None and prompt.width != width:
        raise PromptError(f"{arg}={prompt.source}: the prompt is {prompt.width} wide but pretrained={pretrained} "
                          f"has hidden size {width}{needs}.")
    if release is not None and release_model_kind(config) not in (release.kind, "other") and prompt.format != "tensor":
        return (f"{arg}={prompt.source} was trained on {release.base_model} ({release.folder}) but pretrained="
                f"{pretrained} is a {release_model_kind(config)} model: the layout is that of the model given, so this "
                "is a cross-model evaluation.")
    return None
