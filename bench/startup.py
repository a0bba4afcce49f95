"""Interpreter start-up cost of the installed package's .pth line (the lm-eval bridge).

Builds the wheel, makes a bare virtual environment (no pip, nothing installed), times 30 runs of
``python -c pass`` in it, installs the wheel (``--no-deps``: the .pth needs none of them) and times
them again; then prints the bridge's own lines of ``python -X importtime -c pass``.

    python bench/startup.py [--runs 30]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def median_ms(python: Path, runs: int, env=None) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([str(python), "-c", "pass"], check=True, env=env)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "-w", str(tmp / "dist"), str(ROOT)], check=True)
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp / "venv")], check=True)
        python = tmp / "venv" / "bin" / "python"
        before = median_ms(python, args.runs)
        (wheel,) = (tmp / "dist").glob("*.whl")
        subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                        str(wheel)], check=True)
        after = median_ms(python, args.runs)
        switched_off = median_ms(python, args.runs, env={"SKILLNEURON_HARNESS_NO_BRIDGE": "1"})
        importtime = subprocess.run([str(python), "-X", "importtime", "-c", "pass"], capture_output=True,
                                    text=True, check=True).stderr
    print(f"python -c pass, median of {args.runs}: {before:.1f} ms without the package, {after:.1f} ms with it, "
          f"{switched_off:.1f} ms with it and SKILLNEURON_HARNESS_NO_BRIDGE=1")
    print("python -X importtime -c pass (self us | cumulative us | module), our lines:")
    for line in importtime.splitlines():
        if "skillneuron" in line:
            print("  " + line.removeprefix("import time:").strip())


if __name__ == "__main__":
    main()
