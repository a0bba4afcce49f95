"""Atomic output files and folders: a killed or failing run leaves the old file or the new one, never half of one.

Every file the package writes goes through :func:`atomic_path` (or one of its wrappers): the
content is written to a temporary file in the same folder (``.<name>.<random>.partial``, hidden,
and never matching ``*.safetensors`` or ``*.json``, so no reader mistakes it for a result), flushed
to disk with ``fsync`` and then renamed over the target with ``os.replace``, which POSIX and
Windows make atomic within one file system. A ``kill -9`` at any moment therefore leaves either the
previous complete file or the new complete file, plus at worst a stray ``.partial`` file that
:func:`partial_leftovers` finds, so that readers can say which file was being written when a run
died. Folders (a PEFT adapter, a training run replaced with ``--overwrite``) are built next to the
target and swapped in at the end by :func:`replace_dir`.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PARTIAL_SUFFIX = ".partial"


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not possible (nor needed) on every platform.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_name(path: Path) -> Path:
    """A fresh hidden sibling of ``path`` for its content in progress."""
    return path.parent / f".{path.name}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}"


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s content to; on success it replaces ``path`` atomically.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    # Created here with the mode a plain open() gives (0o666 minus the umask); writers reopen it by name.
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    mode = tmp.stat().st_mode & 0o777
    try:
        yield tmp
        os.chmod(tmp, mode)  # some writers (safetensors) recreate the file with 0600
        _fsync_file(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_json(path: str | Path, data: Any, **dumps_kwargs: Any) -> Path:
    """``json.dumps(data, **dumps_kwargs)`` plus a newline, written atomically."""
    dumps_kwargs.setdefault("indent", 2)
    return write_text(path, json.dumps(data, **dumps_kwargs) + "\n")


def save_safetensors(tensors: dict, path: str | Path, metadata: dict[str, str] | None = None) -> Path:
    """``safetensors.torch.save_file`` written atomically.

    safetensors reports a failed write (a full disk, a quota) as its own ``SafetensorError``, not an
    ``OSError``; it is raised here as an ``OSError`` (with the errno the message carries), so that
    callers handle every failed write of the package in one ``except OSError``.
    """
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    path = Path(path)
    with atomic_path(path) as tmp:
        try:
            save_file(tensors, str(tmp), metadata=metadata)
        except SafetensorError as err:
            raise _as_os_error(err, path) from err
    return path


def _as_os_error(err: Exception, path: Path) -> OSError:
    """``SafetensorError('... IoError(Os { code: 28, ... })')`` as ``OSError(28, 'No space left on device', path)``."""
    found = re.search(r"\bcode: (\d+)", str(err))
    if found:
        code = int(found.group(1))
        return OSError(code, f"{os.strerror(code)} (safetensors: {err})", str(path))
    return OSError(f"{path}: safetensors could not write it ({err})")


def torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` written atomically."""
    import torch

    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return path


def partial_leftovers(path: str | Path) -> list[Path]:
    """Temporary files an interrupted write of ``path`` left behind (empty when none)."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    return sorted(path.parent.glob(f".{path.name}.*{PARTIAL_SUFFIX}"))


def staging_dir(target: str | Path, purpose: str) -> Path:
    """A hidden sibling folder of ``target`` to build its replacement in (fixed name per purpose)."""
    target = Path(target)
    return target.parent / f".{target.name}.{purpose}{PARTIAL_SUFFIX}"


def carry_over(old: str | Path, new: str | Path, skip: Iterable[str] = ()) -> None:
    """Copy into ``new`` what ``old`` holds and ``new`` does not, except ``skip`` (names of our outputs)."""
    old, new, skip = Path(old), Path(new), set(skip)
    if not old.is_dir():
        return
    for entry in old.iterdir():
        if entry.name in skip or entry.name.endswith(PARTIAL_SUFFIX) or (new / entry.name).exists():
            continue
        if entry.is_dir():
            shutil.copytree(entry, new / entry.name, symlinks=True)
        else:
            shutil.copy2(entry, new / entry.name, follow_symlinks=False)


def recover_dir(target: str | Path) -> bool:
    """Put back the old copy of ``target`` when a kill fell between :func:`replace_dir`'s two renames."""
    target = Path(target)
    old = staging_dir(target, "old")
    if target.exists() or not old.is_dir():
        return False
    os.replace(old, target)
    return True


def replace_dir(new: str | Path, target: str | Path) -> Path:
    """Put the finished folder ``new`` in place of ``target`` (which may or may not exist).

    Two renames: ``target`` moves aside, ``new`` moves in, then the old copy is deleted. Only
    between the two renames (microseconds) is ``target`` absent; its old content then still
    sits in ``.<name>.old.partial``, which the error names.
    """
    new, target = Path(new), Path(target)
    old = staging_dir(target, "old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    try:
        os.replace(new, target)
    except OSError as err:
        if old.exists() and not target.exists():
            os.replace(old, target)
        raise OSError(f"could not move {new} to {target}: {err}") from err
    _fsync_dir(target.parent)
    shutil.rmtree(old, ignore_errors=True)
    return target
