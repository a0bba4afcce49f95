#!/usr/bin/env bash
# lm-eval's own test suite, run twice in the current environment: with the startup bridge and with
# SKILLNEURON_HARNESS_NO_BRIDGE=1. Prints the tests whose outcome differs; exits 1 if any does.
#
#   scripts/check_lm_eval_suite.sh [LM_EVAL_GIT_DIR] [PYTEST_ARGS...]
#
# lm-eval's tests are not in its wheel: they are exported from a clone of
# EleutherAI/lm-evaluation-harness (LM_EVAL_GIT_DIR, default: a shallow clone of the tag of the
# installed version) at REF (default: v<installed version>; REF=HEAD for a checkout without tags) into
# a temporary folder, never into this repository. With SDIST=1 the installed version's sdist test
# files (pip download) are laid over them. PYTEST_ARGS default to the offline-friendly core:
# tests/test_task_manager.py tests/test_registry.py tests/test_evaluator.py tests/test_tasks.py.
# It takes minutes; it is not part of the test suite or CI.
set -euo pipefail
python=${PYTHON:-python}
version=$($python -c "import importlib.metadata as m; print(m.version('lm_eval'))")
ref=${REF:-v$version}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

repo=${1:-}
if [ -z "$repo" ]; then
  git clone -q --depth 1 --branch "$ref" https://github.com/EleutherAI/lm-evaluation-harness "$work/clone"
  repo=$work/clone
fi
[ $# -gt 0 ] && shift
mkdir -p "$work/suite"
git -C "$repo" archive "$ref" tests | tar -x -C "$work/suite"
if [ "${SDIST:-0}" = 1 ]; then
  $python -m pip download -q --no-deps --no-binary :all: --no-build-isolation -d "$work/sdist" "lm_eval==$version"
  tar -xzf "$work"/sdist/lm_eval-*.tar.gz -C "$work/sdist"
  cp "$work"/sdist/lm_eval-"$version"/tests/*.py "$work/suite/tests/"
fi
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(tests/test_task_manager.py tests/test_registry.py tests/test_evaluator.py tests/test_tasks.py)
echo "lm-eval $version, tests from $repo at $ref; running: ${args[*]}"

cd "$work/suite"
for mode in with without; do
  if [ $mode = without ]; then export SKILLNEURON_HARNESS_NO_BRIDGE=1; else unset SKILLNEURON_HARNESS_NO_BRIDGE; fi
  HF_DATASETS_OFFLINE=${HF_DATASETS_OFFLINE:-1} HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} \
    $python -m pytest -q -p no:cacheprovider -o addopts= --junitxml="$work/$mode.xml" "${args[@]}" \
    > "$work/$mode.log" 2>&1 || true
  echo "$mode the bridge: $(tail -n 1 "$work/$mode.log")"
done

$python - "$work/with.xml" "$work/without.xml" <<'PY'
import sys
import xml.etree.ElementTree as ET

def outcomes(path):
    got = {}
    for case in ET.parse(path).iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        got[f"{case.get('classname')}::{case.get('name')}"] = kinds[0] if kinds else "passed"
    return got

with_bridge, without = outcomes(sys.argv[1]), outcomes(sys.argv[2])
differ = sorted(t for t in with_bridge.keys() | without.keys() if with_bridge.get(t) != without.get(t))
counts = {k: list(with_bridge.values()).count(k) for k in ("passed", "failure", "error", "skipped")}
print(f"{len(with_bridge)} tests; with the bridge: {counts}")
for test in differ:
    print(f"DIFFERS {test}: with the bridge {with_bridge.get(test)}, without {without.get(test)}")
print("identical outcomes" if not differ else f"{len(differ)} tests differ")
sys.exit(1 if differ else 0)
PY
