"""``skillneuron report RUN_DIR ...``: a Markdown (or JSON) report over lm-eval runs and skill-neuron files.

    skillneuron report runs/ --out report/               # report/report.md + report/figures/*.png
    skillneuron report runs/ --out board/ --format json  # board/report.json, for leaderboards

RUN_DIRs are searched recursively for lm-eval's ``results_*.json``, skill-neuron
``<task>.safetensors`` files, ``suppression_curve.json`` and ``prompts.json`` manifests (see
:mod:`skillneuron_harness.report.collect`).
"""

from __future__ import annotations

import argparse
import sys

from skillneuron_harness.core.constants import DEFAULT_TIES, DEFAULT_TOP, TIES


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="skillneuron report", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="lm-eval output folders and skill-neuron folders")
    p.add_argument("--out", "--output", default="report", help="output folder")
    p.add_argument("--format", choices=("markdown", "json"), default="markdown", help="report format")
    p.add_argument("--top", type=float, default=DEFAULT_TOP, help="skill neurons: fraction of each layer's neurons")
    p.add_argument("--ties", choices=TIES, default=DEFAULT_TIES,
                   help="among neurons of equal score: high keeps the higher index (Ackermann & Ohmer), low the lower "
                        "(Wang et al.)")
    p.add_argument("--skip-unreadable", action="store_true",
                   help="report without the files that cannot be read (each is named on stderr) instead of stopping")
    return p


def main(argv: list[str]) -> int:
    """Entry point of ``skillneuron report``."""
    args = build_parser().parse_args(argv)
    from skillneuron_harness.core.errors import SkillNeuronError
    from skillneuron_harness.report.render import build_report

    try:
        path = build_report(args.run_dirs, args.out, fmt=args.format, top=args.top, ties=args.ties,
                            skip_unreadable=args.skip_unreadable, say=print)
    except (FileNotFoundError, SkillNeuronError) as err:
        print(f"skillneuron report: {err}", file=sys.stderr)
        return 2
    print(f"Report written to {path}")
    return 0
