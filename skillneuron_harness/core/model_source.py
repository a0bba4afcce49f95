"""Whether a model name can be loaded at all: a local folder, or a well-formed Hub id (cached, when offline).

``pretrained=``, ``skillneuron convert --base``, ``skillneuron train --model`` and the leaderboard's
entries all name a base model. :func:`model_source_problem` tells, without loading anything, why a
name cannot be one, in one line naming the argument: a path that does not exist, a file where a
folder is needed, a name that is not a valid Hub id (``not a/valid//id``), or, with
``HF_HUB_OFFLINE=1``, a Hub id whose ``config.json`` is not in the local cache. Whatever it lets
through may still fail to load (a Hub id that does not exist online); it only catches, in
milliseconds, what would otherwise fail after minutes of other work or with a library's traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

from skillneuron_harness.core.errors import SkillNeuronError


class ModelSourceError(SkillNeuronError):
    """A model name that is neither a usable local folder nor a Hub id; the message names the argument."""


def _looks_like_path(value: str) -> bool:
    return value.startswith((".", "/", "~")) or "\\" in value


def model_source_problem(value: str | None, arg: str, revision: str | None = None) -> str | None:
    """Why ``value`` cannot name a model (one line naming ``arg``), or None when it may (``revision``: the Hub's)."""
    if value is None:
        return None
    if not str(value).strip():
        return f"{arg}={value}: the value is empty; give a local model folder or a Hub id."
    path = Path(value).expanduser()
    if path.is_dir():
        return None
    if path.exists():
        return f"{arg}={value}: this is a file; give the model's folder (with config.json) or a Hub id."
    if _looks_like_path(value):
        return f"{arg}={value}: no such folder; check the path (or give a Hub id such as org/name)."
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(value)
    except HFValidationError:
        return (f"{arg}={value}: neither a local folder (no such path) nor a valid Hub id (org/name: letters, "
                "digits, '-', '_', '.'); check the name.")
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(value, "config.json", revision=revision), str):
            return (f"{arg}={value}: no such local folder, and with HF_HUB_OFFLINE=1 the Hub id is not in the "
                    "local cache; check the path, or fill the cache on a connected machine.")
    return None


def check_model_source(value: str | None, arg: str, revision: str | None = None) -> None:
    """Raise :class:`ModelSourceError` with :func:`model_source_problem`'s line, if there is one."""
    problem = model_source_problem(value, arg, revision)
    if problem is not None:
        raise ModelSourceError(problem)
