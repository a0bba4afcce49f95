#!/usr/bin/env bash
# Our test suite against another lm-eval: a source checkout (lm-eval's `next0.5` branch, a fork, a PR).
#
#   scripts/test_against_lm_eval.sh SRC [PYTEST_ARGS...]
#
# Builds a throwaway venv (VENV=DIR keeps it there and reuses it on the next call), installs
# torch==2.13.0 first (PIP_TORCH overrides the requirement), then this package with its [test]
# extra (which brings the lm-eval of our pin), then `pip install -e SRC` over it: with --no-deps
# when everything SRC's pyproject requires is already installed, so that the rest of the venv stays
# what 0.4.13 runs with. pip may note that a source version (a .dev release, a version beyond our
# pin) does not meet our requirement. PYTEST_ARGS default to `-q -p no:cacheprovider tests`. Exits with pytest's
# status. It takes long (the whole suite on CPUs); it is not part of the test suite or CI.
set -euo pipefail
if [ $# -lt 1 ] || [ ! -f "$1/pyproject.toml" -a ! -f "$1/setup.py" ]; then
  echo "usage: $0 SRC [PYTEST_ARGS...]  (SRC: an lm-eval source checkout, with its pyproject.toml; got '${1:-}')" >&2
  exit 2
fi
src=$(cd "$1" && pwd)
shift
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}

if [ -n "${VENV:-}" ]; then
  venv=$VENV
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  venv=$work/venv
fi
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q "${PIP_TORCH:-torch==2.13.0}"
  "$venv/bin/python" -m pip install -q -e "$here[test]"
fi
py=$venv/bin/python

# Are SRC's own requirements (not its extras) all met in the venv already?
if "$py" - "$src" <<'PY'
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.requirements import Requirement

path = Path(sys.argv[1]) / "pyproject.toml"
needs = tomllib.loads(path.read_text()).get("project", {}).get("dependencies", []) if path.exists() else []
missing = []
for line in needs:
    req = Requirement(line)
    if req.marker is not None and not req.marker.evaluate():
        continue
    try:
        if not req.specifier.contains(version(req.name), prereleases=True):
            missing.append(f"{line} (have {version(req.name)})")
    except PackageNotFoundError:
        missing.append(f"{line} (not installed)")
for line in missing:
    print(f"not met: {line}")
sys.exit(1 if missing or not path.exists() else 0)
PY
then
  "$py" -m pip install -q --no-deps -e "$src"
else
  "$py" -m pip install -q -e "$src"
fi

args=("$@")
[ ${#args[@]} -gt 0 ] || args=(-q -p no:cacheprovider tests)
"$py" -c "import lm_eval, importlib.metadata as m; print('lm-eval', m.version('lm_eval'), 'from', lm_eval.__file__)"
cd "$here"
"$py" -m pytest "${args[@]}"
