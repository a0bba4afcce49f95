"""What the experiment commands share: prompt specs, one loaded model per prompt, saved lm-eval results.

A prompt on the command line is ``PATH`` or ``TASK=PATH`` (``TASK``: what it was trained on, for
transfer's "own prompt" and the report's groups); without ``TASK=`` the adapter's
``train_config.json`` (from ``skillneuron train``) is read. Each command writes a
``prompts.json`` manifest so that ``skillneuron report`` knows the prompts later.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from skillneuron_harness.core.atomic import write_json
from skillneuron_harness.core.constants import TRAIN_CONFIG_FILE
from skillneuron_harness.core.results import format_model_args, parse_limit
from skillneuron_harness.report.collect import MANIFEST
from skillneuron_harness.report.labels import prompt_label


@dataclass
class PromptSpec:
    """One prompt of an experiment."""

    path: str
    label: str
    task: str | None = None
    seed: int | str | None = None


def parse_prompts(specs: list[str]) -> list[PromptSpec]:
    """``PATH`` or ``TASK=PATH`` -> PromptSpecs with unique labels."""
    out: list[PromptSpec] = []
    for spec in specs:
        task, sep, path = spec.partition("=")
        if not sep:
            task, path = None, spec
        if not Path(path).exists():
            raise FileNotFoundError(f"prompt {path} does not exist (give PATH or TASK=PATH)")
        seed = None
        config = Path(path) / TRAIN_CONFIG_FILE
        if config.is_file():
            train = json.loads(config.read_text(encoding="utf-8")).get("config", {})
            task, seed = task or train.get("task"), train.get("seed")
        out.append(PromptSpec(path=path, label=prompt_label(path), task=task, seed=seed))
    labels = [p.label for p in out]
    for p in out:
        if labels.count(p.label) > 1:  # e.g. several runs/<x>/adapter: prefix with the folder
            p.label = f"{Path(p.path).resolve().parent.name}/{p.label}"
    for p in out:
        if p.seed is None:
            p.seed = p.label
    return out


def write_manifest(out: Path, prompts: list[PromptSpec]) -> Path:
    """``out/prompts.json``: {resolved path: {label, task, seed}}."""
    out.mkdir(parents=True, exist_ok=True)
    manifest = {str(Path(p.path).resolve()): {k: v for k, v in asdict(p).items() if k != "path"} for p in prompts}
    path = out / MANIFEST
    write_json(path, manifest)
    return path


def load_model(model: str, prompt: PromptSpec | None, *, device: str = "cpu", batch_size: int | str = 8,
               backend: str = "auto", dtype: str | None = None, **model_args: Any):
    """A ``prompt_tuned`` model, loaded once and reused across evaluations (``dtype``: lm-eval's, e.g. bfloat16)."""
    from skillneuron_harness.host.model import PromptTunedLM

    if dtype is not None:
        model_args["dtype"] = dtype
    return PromptTunedLM(pretrained=model, prompt=prompt.path if prompt else None, backend=backend, device=device,
                         batch_size=batch_size, **model_args)


def evaluate(lm, tasks: list[str], *, model: str, prompt: PromptSpec | None, out_dir: Path | None,
             limit: int | float | None = None, task_manager=None, extra_model_args: dict | None = None) -> dict:
    """``lm_eval.simple_evaluate`` on a loaded model; the results JSON is saved in ``out_dir``."""
    from skillneuron_harness.host.evaluate import evaluate as run

    results = run(lm, tasks, limit=limit, task_manager=task_manager)
    args = {"pretrained": model, "prompt": prompt.path if prompt else None, **(extra_model_args or {})}
    dtype = getattr(getattr(lm, "model", None), "dtype", None)  # as loaded: what the numbers were computed in
    if dtype is not None and "dtype" not in args:
        args["dtype"] = str(dtype).removeprefix("torch.")
    results["config"]["model"] = "prompt_tuned"
    results["config"]["model_args"] = format_model_args(args)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now().isoformat().replace(":", "-")
        path = out_dir / f"results_{stamp}.json"
        write_json(path, results, default=str, ensure_ascii=False)
    return results


def task_manager(include_path: list[str] | None = None):
    """One lm-eval TaskManager (host/evaluate.py: ours, lm-eval's and ``include_path``)."""
    from skillneuron_harness.host.evaluate import task_manager as build

    return build(include_path)


def add_run_arguments(parser) -> None:
    """The lm-eval run options shared by ``transfer`` and ``suppression-curve`` (read by :func:`run_options`)."""
    parser.add_argument("--limit", type=float, default=None, help="documents per task (lm-eval's --limit)")
    parser.add_argument("--batch-size", default="8", help="lm-eval batch size")
    parser.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, mps, ...")
    parser.add_argument("--backend", default="auto", help="prompt_tuned backend")
    parser.add_argument("--dtype", default=None, choices=["auto", "float32", "bfloat16", "float16"],
                        help="weights' dtype, as lm-eval's dtype= (bfloat16 or float16 on a GPU: several times faster "
                             "than the checkpoint's float32; the results JSON records the dtype used)")
    parser.add_argument("--include-path", action="append", default=[], help="extra lm-eval task folders")
    parser.add_argument("--verbose", action="store_true",
                        help="show lm-eval's, datasets' and transformers' notices too (by default: errors only, "
                             "so that the one line per unit stays readable)")


def run_options(args) -> tuple[list, int | str, int | float | None, object]:
    """The shared options of the commands that run lm-eval: prompts, batch size, limit, task index."""
    prompts = parse_prompts(args.prompts)
    batch_size = int(args.batch_size) if args.batch_size.isdigit() else args.batch_size
    limit = parse_limit(args.limit)
    return prompts, batch_size, limit, task_manager(args.include_path)
