"""``skillneuron leaderboard``: rank models on AdvGLUE (or any suite) from one YAML spec.

    skillneuron leaderboard board.yaml --out board/            # run what is missing, write the outputs
    skillneuron leaderboard board.yaml --out board/ --from old-runs/   # add existing lm-eval folders
    skillneuron leaderboard --from runs-a/ runs-b/ --out board/       # rank existing results only
    skillneuron leaderboard --from a/leaderboard.json b/leaderboard.json --out board/   # merge two boards

Writes ``board/leaderboard.{md,csv,json}``, ``board/index.html`` and ``board/every_eval_ever/``.
Interrupted runs continue where they stopped when the same command is run again. ``--out`` is checked (a writable folder
with room) and locked before any work: a second run on the same folder is refused naming the
first, or waits for it with ``--wait``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="skillneuron leaderboard", description=__doc__.split("\n\n")[0],
                                epilog="Spec format: README, section Leaderboards; outputs: docs/leaderboard.md.",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("spec", nargs="?", help="leaderboard spec (YAML): entries, tasks, run options")
    p.add_argument("--out", "--output", required=True, help="leaderboard folder: finished units and the outputs")
    p.add_argument("--from", dest="from_dirs", nargs="+", default=[], metavar="DIR",
                   help="existing lm-eval output folders (results_*.json), or leaderboard.json files of boards built "
                        "elsewhere, to add without running")
    p.add_argument("--verbose", action="store_true",
                   help="show lm-eval's, datasets' and transformers' notices too (by default: errors only, so that "
                        "the one line per unit stays readable)")
    p.add_argument("--wait", action="store_true",
                   help="when another run is writing into --out, wait for it to finish instead of refusing")
    return p


def main(argv: list[str]) -> int:
    """Entry point of ``skillneuron leaderboard``."""
    args = build_parser().parse_args(argv)
    if args.spec is None and not args.from_dirs:
        print("skillneuron leaderboard: give a spec file, --from folders, or both.", file=sys.stderr)
        return 2
    from skillneuron_harness.core.errors import install_excepthook
    from skillneuron_harness.core.logs import host_logs, setup_logging
    from skillneuron_harness.leaderboard.build import build_leaderboard

    setup_logging()
    install_excepthook()
    try:
        with host_logs(args.verbose):
            paths = build_leaderboard(args.spec, Path(args.out), from_dirs=args.from_dirs, wait=args.wait)
    except (FileNotFoundError, ValueError) as err:
        for line in str(err).splitlines():  # several entries' problems: one line each
            print(f"skillneuron leaderboard: {line}", file=sys.stderr)
        return 2
    except OSError as err:  # the folder failed during the run (disk full, unmounted): finished units are kept
        print(f"skillneuron leaderboard: --out {args.out}: writing failed ({err}); finished units are kept, run the "
              "same command again once the folder can be written.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nskillneuron leaderboard: interrupted. Finished units are kept in {args.out}; run the same "
              "command again to continue.", file=sys.stderr)
        return 130
    for kind, path in paths.items():
        print(f"{kind:>4}: {path}")
    return 0
