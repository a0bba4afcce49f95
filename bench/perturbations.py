"""CPU seconds to perturb 10,000 SST-2 sentences, per kind (the defaults, protected answer words), median of repeats.

Reads ../shared/data/sst2/train.jsonl (GLUE SST-2 train, a 20,000-row sample; see SOURCES.md there)
in place. ``--nlpaug`` also times nlpaug's nearest augmenters on the same sentences (when it is
installed) and checks whether one document's output depends on the documents perturbed before it.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "sst2" / "train.jsonl"
sys.path.insert(0, str(ROOT))

from skillneuron_harness.perturbations import KINDS, Perturbation  # noqa: E402


def sentences(n: int) -> list[str]:
    with DATA.open(encoding="utf-8") as f:
        rows = [json.loads(line)["sentence"] for line in f]
    if len(rows) < n:
        raise SystemExit(f"{DATA} has {len(rows)} sentences, fewer than --docs {n}")
    return rows[:n]


def time_kind(kind: str, docs: list[str], repeats: int) -> dict:
    p = Perturbation.from_spec([{"kind": kind}], seed=1234, protected=("positive", "negative"))
    cpu, wall, changed = [], [], 0
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        results = [p.apply(d, doc_id=i, field="sentence") for i, d in enumerate(docs)]
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start)
        changed = sum(c for _, c in results)
    return {"kind": kind, "median_cpu_s": statistics.median(cpu), "median_wall_s": statistics.median(wall),
            "cpu_s": cpu, "wall_s": wall, "changed": changed}


def time_nlpaug(docs: list[str]) -> list[dict]:
    start = time.process_time()
    import nlpaug.augmenter.char as nac
    import nlpaug.augmenter.word as naw
    imported = time.process_time() - start
    makers = {"KeyboardAug": lambda: nac.KeyboardAug(), "RandomCharAug(swap)": lambda: nac.RandomCharAug("swap"),
              "RandomCharAug(delete)": lambda: nac.RandomCharAug("delete"),
              "RandomCharAug(insert)": lambda: nac.RandomCharAug("insert"),
              "RandomWordAug(delete)": lambda: naw.RandomWordAug("delete"),
              "RandomWordAug(swap)": lambda: naw.RandomWordAug("swap")}
    out = []
    for name, make in makers.items():
        aug = make()
        random.seed(0)
        start = time.process_time()
        first = [aug.augment(d) for d in docs]
        seconds = time.process_time() - start
        random.seed(0)  # nlpaug draws from the global `random` (and numpy): reseed, then doc 5 alone
        alone = aug.augment(docs[5])
        out.append({"augmenter": name, "seconds": seconds, "import_s": imported,
                    "doc_alone_equals_doc_in_sequence": alone == first[5]})
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--kinds", nargs="*", default=sorted(KINDS))
    parser.add_argument("--nlpaug", action="store_true", help="also time nlpaug's augmenters (if installed)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    docs = sentences(args.docs)
    rows = [time_kind(k, docs, args.repeats) for k in args.kinds]
    print(f"| kind | CPU s / {args.docs} docs (median) | wall s (median) | documents changed |\n|---|---:|---:|---:|")
    for r in rows:
        print(f"| `{r['kind']}` | {r['median_cpu_s']:.3f} | {r['median_wall_s']:.3f} | {r['changed']:,} |")
    result = {"docs": args.docs, "repeats": args.repeats, "python": platform.python_version(),
              "machine": platform.machine(), "kinds": rows}
    if args.nlpaug:
        result["nlpaug"] = time_nlpaug(docs)
        for r in result["nlpaug"]:
            print(f"nlpaug {r['augmenter']}: {r['seconds']:.2f} CPU s (import {r['import_s']:.1f} CPU s), "
                  f"doc alone == doc in sequence: {r['doc_alone_equals_doc_in_sequence']}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
