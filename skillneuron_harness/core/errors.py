"""The package's error base class, and the one-line report of our errors under any front end.

Every error we raise on purpose (a bad argument, a missing file, a task we cannot use) derives from
:class:`SkillNeuronError`. It is a ``ValueError``, so ``except ValueError`` in callers keeps working,
and its message already says what was wrong, what was expected and how to fix it: a 35-line traceback
through lm-eval's loader adds nothing to it. :func:`install_excepthook` (armed lazily, when our model
or commands are first used, never at interpreter start) prints such an error as one line;
``SKILLNEURON_HARNESS_TRACEBACK=1`` brings the full traceback back. Errors of lm-eval, torch or any
other library keep their traceback; when one of them is a failed connection to the Hugging Face Hub
(an offline machine), one more line points to the offline recipe in the README.
"""

from __future__ import annotations

import os
import sys

TRACEBACK_ENV = "SKILLNEURON_HARNESS_TRACEBACK"
OFFLINE_HINT = (
    "skillneuron-harness: the Hugging Face Hub could not be reached. Offline, give models as local folders "
    "(pretrained=PATH) and datasets from a cache: HF_DATASETS_CACHE=DIR HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 "
    "(a cache filled on a connected machine and copied; see 'Offline use' in skillneuron-harness's README)."
)
# What huggingface_hub, datasets, requests and httpx raise when the Hub is out of reach; matched by
# name so that the hook imports none of them. Python's own ConnectionError family (BrokenPipeError when
# a reader such as `head` closes our stdout) is not a Hub failure: builtins are skipped ...
_HUB_ERRORS = {"LocalEntryNotFoundError", "OfflineModeIsEnabled", "ConnectionError", "ConnectError",
               "ConnectTimeout", "ReadTimeout", "MaxRetryError", "NewConnectionError", "NameResolutionError"}
# ... except a plain builtin ConnectionError whose message names the Hub (datasets' own).
_HUB_WORDS = ("on the hub", "hugging face hub", "huggingface.co")


class SkillNeuronError(ValueError):
    """An error of skillneuron-harness whose message names the problem and the fix."""


def _is_ours(exc: BaseException | None) -> bool:
    # lm-eval sometimes re-raises a model's error from its own (``raise X from ours``): look one link back too.
    seen = 0
    while exc is not None and seen < 4:
        if isinstance(exc, SkillNeuronError):
            return True
        exc = exc.__cause__
        seen += 1
    return False


def _ours(exc: BaseException) -> BaseException:
    while not isinstance(exc, SkillNeuronError) and exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def _chain(exc: BaseException | None):
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _names_the_hub(exc: BaseException) -> bool:
    # datasets raises the builtin ConnectionError itself ("Couldn't reach 'AI-Secure/adv_glue' on the Hub
    # (OfflineModeIsEnabled)"), and sometimes `from None`, so only its message tells it from a closed pipe.
    message = str(exc).lower()
    return type(exc) is ConnectionError and any(word in message for word in _HUB_WORDS)


def is_hub_unreachable(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or an error it was raised from) is a failed connection to the Hub."""
    return any(_names_the_hub(e) or
               any(cls.__name__ in _HUB_ERRORS and cls.__module__ != "builtins" for cls in type(e).__mro__)
               for e in _chain(exc))


def _excepthook(exc_type, exc, tb, _previous=None):
    previous = _previous or sys.__excepthook__
    if os.environ.get(TRACEBACK_ENV, "") not in ("", "0") or not _is_ours(exc):
        previous(exc_type, exc, tb)
        if is_hub_unreachable(exc):
            print(OFFLINE_HINT, file=sys.stderr)
        return
    ours = _ours(exc)
    print(
        f"{type(ours).__name__}: {ours}  (full traceback: {TRACEBACK_ENV}=1)",
        file=sys.stderr,
    )


def install_excepthook() -> None:
    """Print uncaught :class:`SkillNeuronError` s as one line; idempotent, chains any existing hook."""
    current = sys.excepthook
    if getattr(current, "_skillneuron", False):
        return
    previous = current

    def hook(exc_type, exc, tb):
        _excepthook(exc_type, exc, tb, previous)

    hook._skillneuron = True  # type: ignore[attr-defined]
    sys.excepthook = hook
