"""A wheel and an editable install both find the task YAMLs, by our code and by lm-eval's entry-point rule.

The wheel is built with ``pip wheel --no-build-isolation`` (hatchling from the test extra), the editable
wheel with hatchling's PEP 660 hook; each is installed with ``pip install --target`` into a folder that
a ``python -S`` interpreter then adds as its only site directory. The ``lm_eval.tasks`` entry point is
resolved the way lm-eval's plugin discovery does it (upstream #4015): ``find_spec`` on its value, then
the package's first search location.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import importlib.metadata as md, importlib.util, json, site, sys
site.addsitedir(sys.argv[1])
import skillneuron_harness
from skillneuron_harness.host.bridge import task_folder
from skillneuron_harness.core import advglue_pairs
(ep,) = [ep for ep in md.entry_points(group="lm_eval.tasks") if ep.name == "skillneuron_harness"]
spec = importlib.util.find_spec(ep.value.split(":")[0])
print(json.dumps({"package": skillneuron_harness.__file__, "task_folder": str(task_folder()),
                  "entry_point": list(spec.submodule_search_locations)[0],
                  "bridge": "skillneuron_harness.host.bridge" in sys.modules,
                  "pairs": {t: len(advglue_pairs.pairs(t)) for t in advglue_pairs.TASKS},
                  "adv_rte_0": advglue_pairs.clean_original("adv_rte", 0)}))
"""


def pip(*args, cwd=None):
    out = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=600, cwd=cwd)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]


def probe(site_dir: Path) -> dict:
    out = subprocess.run([sys.executable, "-S", "-c", PROBE, str(site_dir)], capture_output=True, text=True,
                         timeout=120, cwd=site_dir.parent, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def advglue(folder: str) -> list[str]:
    return sorted(p.name for p in (Path(folder) / "advglue").glob("adv_*.yaml"))


ADVGLUE = ["adv_mnli.yaml", "adv_mnli_mismatched.yaml", "adv_qnli.yaml", "adv_qqp.yaml", "adv_rte.yaml",
           "adv_sst2.yaml"]


@pytest.mark.parametrize("kind", ["wheel", "editable"])
def test_install_finds_the_task_folder(kind, tmp_path):
    dist = tmp_path / "dist"
    if kind == "wheel":
        pip("wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(ROOT))
    else:
        code = f"from hatchling.build import build_editable; build_editable({str(dist)!r})"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert out.returncode == 0, out.stderr[-3000:]
    (wheel,) = dist.glob("*.whl")
    site_dir = tmp_path / "site"
    pip("install", "--no-deps", "-q", "--target", str(site_dir), str(wheel))

    got = probe(site_dir)
    assert got["bridge"]  # the .pth line ran
    if kind == "wheel":
        assert Path(got["package"]).is_relative_to(site_dir)
        assert Path(got["task_folder"]) == (site_dir / "skillneuron_harness" / "task_configs").resolve()
        assert not (site_dir / "skillneuron_harness" / "task_configs" / "__init__.py").exists()
    else:
        assert Path(got["package"]).is_relative_to(ROOT)  # the checkout, not a copy
        assert Path(got["task_folder"]) == ROOT / "task_configs"
        assert not (site_dir / "skillneuron_harness").exists()  # no stale copy of the YAMLs
    assert Path(got["entry_point"]) == Path(got["task_folder"])
    assert advglue(got["task_folder"]) == ADVGLUE
    # the AdvGLUE pairs ship in both (the wheel's copy of task_configs/ includes them)
    assert got["pairs"] == {"adv_sst2": 148, "adv_qqp": 78, "adv_mnli": 121, "adv_mnli_mismatched": 162,
                            "adv_qnli": 148, "adv_rte": 81}
    assert got["adv_rte_0"] == 10
