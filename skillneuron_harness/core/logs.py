"""How our commands log: every message once, and the host libraries' notices only when asked.

``datasets`` prints through a handler of its own *and* passes each record on to the root logger,
so that a command which configures the root logger shows every datasets message twice:
:func:`setup_logging` stops that one library's propagation. :func:`host_logs` keeps lm-eval's,
datasets' and transformers' per-task notices (cached dataset found, default metric settings,
device not specified, ...) out of long runs, whose own one line per unit they would bury; errors
always show, and ``--verbose`` shows everything.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

FORMAT = "%(levelname)s %(name)s: %(message)s"
HOST_LOGGERS = ("lm_eval", "lm-eval", "datasets", "transformers", "huggingface_hub", "accelerate")


def setup_logging(level: int = logging.WARNING) -> None:
    """Our commands' root logger, and datasets' messages through datasets' own handler only."""
    logging.basicConfig(level=level, format=FORMAT)
    logging.getLogger("datasets").propagate = False  # it keeps a stderr handler of its own


@contextmanager
def host_logs(verbose: bool = False) -> Iterator[None]:
    """Inside, unless ``verbose``: the host libraries log errors only (our own loggers are untouched)."""
    if verbose:
        yield
        return
    loggers = [logging.getLogger(name) for name in HOST_LOGGERS]
    levels = [lg.level for lg in loggers]
    verbosity = []
    try:
        import datasets
        import transformers

        verbosity = [(datasets.utils.logging, datasets.utils.logging.get_verbosity()),
                     (transformers.utils.logging, transformers.utils.logging.get_verbosity())]
    except ImportError:  # pragma: no cover (both are dependencies)
        pass
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        for module, _ in verbosity:
            module.set_verbosity_error()
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
        for module, level in verbosity:
            module.set_verbosity(level)
