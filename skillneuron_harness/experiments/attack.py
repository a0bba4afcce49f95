"""``skillneuron attack``: adversarial documents made against the model under test, written as an lm-eval task.

    skillneuron attack --model prompt_tuned --model_args pretrained=M,prompt=P --task sst2 \\
        --recipe chars --max-words-changed 0.15 --out attacks

The model is built exactly as ``lm_eval --model M --model_args ARGS`` builds it (``prompt_tuned``,
``hf``, ...). Every evaluation document of the task (the first ``--limit``) is attacked by the greedy
search of :mod:`skillneuron_harness.attacks.search` in its ``--fields`` (default: the text fields its
prompt shows), ``--width`` documents at a time, their variants scored together through the model's
``loglikelihood`` (one call per round). ``--out`` gets, under ``--name`` (default
``<task>_attack_<recipe>``):

* ``NAME.jsonl`` + ``NAME.yaml``: the attack set as a task (``--include_path OUT --tasks NAME``):
  each document with the replacements its search made (a flipped prediction, or a failed search's
  lowered margin; a skipped document as it was), so that the victim's accuracy on it is the
  accuracy under attack, with ``clean_doc_id``, ``attack_status``, ``perturbed``,
  ``changed_words`` and ``changed_chars``; ``--keep succeeded`` keeps only the flipped documents
  (an AdvGLUE-style set, for transfer to other models);
* ``NAME.log.jsonl``: one record per document (status, reason, queries, words and characters changed,
  the substitutions, margins, the perturbed text);
* ``NAME.summary.json``: clean accuracy, accuracy under attack, success rate, mean queries and words
  changed (``attacks/summary.py``), the settings, the victim and the versions, in the results JSON's
  ``results`` layout, and the time taken.

Records are appended to ``NAME.log.partial.jsonl`` as documents finish; a run that stops is
continued by the same command, which skips the finished documents (settings that differ are
refused, naming them). The same command writes the same ``NAME.jsonl``, ``NAME.yaml`` and
``NAME.log.jsonl``, byte for byte.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import fields as dataclass_fields
from pathlib import Path

from skillneuron_harness.attacks.config import AttackConfig, AttackError
from skillneuron_harness.attacks.search import SUCCEEDED, AttackRecord, Target, run_searches
from skillneuron_harness.attacks.summary import summarize
from skillneuron_harness.core.atomic import write_json, write_text
from skillneuron_harness.core.options import add_arguments

log = logging.getLogger(__name__)
KEEP = ("all", "succeeded")


def build_parser() -> argparse.ArgumentParser:
    """The command line: the victim as lm-eval takes it, the task, the outputs, then :class:`AttackConfig`."""
    p = argparse.ArgumentParser(prog="skillneuron attack", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", default="prompt_tuned", help="lm-eval model name: prompt_tuned, hf, ...")
    p.add_argument("--model_args", "--model-args", default="", help="lm-eval's model_args, k=v,k=v")
    p.add_argument("--task", required=True, help="a multiple-choice lm-eval task (one task, not a group)")
    p.add_argument("--fields", default=None,
                   help="document fields to attack, comma-separated (default: the text fields its prompt shows)")
    p.add_argument("--out", "--output", required=True, help="output folder (an --include_path for lm-eval)")
    p.add_argument("--name", default=None, help="the attack set's task name (default: <task>_attack_<recipe>)")
    p.add_argument("--limit", type=float, default=None, help="attack the first N evaluation documents (or a fraction)")
    p.add_argument("--keep", choices=KEEP, default="all",
                   help="documents of the written task: all (accuracy on it = accuracy under attack) or the "
                        "succeeded ones only")
    p.add_argument("--mlm", default=None, help="mlm recipe: a masked LM (path or Hub id); default: the victim "
                                               "if it is a masked LM")
    p.add_argument("--width", type=int, default=32, help="documents searched together (their variants share calls)")
    p.add_argument("--batch_size", "--batch-size", default="32", help="lm-eval batch size of the victim")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, mps, ...")
    p.add_argument("--include_path", "--include-path", action="append", default=[], help="extra lm-eval task folders")
    p.add_argument("--overwrite", action="store_true", help="replace an attack of this name made with other settings")
    p.add_argument("--verbose", action="store_true", help="show lm-eval's, datasets' and transformers' notices")
    add_arguments(p, AttackConfig)
    return p


# ------------------------------------------------------------------------------------------ files
def paths(out: Path, name: str) -> dict[str, Path]:
    """The files of the attack set ``name`` in ``out`` (module docstring)."""
    return {k: out / f"{name}{suffix}" for k, suffix in (
        ("documents", ".jsonl"), ("yaml", ".yaml"), ("log", ".log.jsonl"), ("summary", ".summary.json"),
        ("partial", ".log.partial.jsonl"))}


def read_partial(path: Path, identity: dict, overwrite: bool) -> dict[int, AttackRecord]:
    """The finished records of an interrupted run with the same ``identity`` (a broken last line is dropped)."""
    if not path.exists():
        return {}
    lines = path.read_text(encoding="utf-8").splitlines()
    try:
        header = json.loads(lines[0])["attack"] if lines else None
    except (json.JSONDecodeError, KeyError, TypeError):
        header = None
    if header != identity:
        if overwrite:
            return {}
        raise AttackError(f"{path}: an unfinished attack of this name with other settings "
                          f"({differences(header, identity)}); run it again with its settings to finish it, "
                          "pass --overwrite to start over, or choose another --name.")
    done = {}
    for line in lines[1:]:
        try:
            record = AttackRecord.from_json(json.loads(line))
        except (json.JSONDecodeError, KeyError, TypeError):
            break  # the line being written when the run stopped
        done[record.doc_id] = record
    return done


def differences(old: dict | None, new: dict) -> str:
    """The first settings that differ between two identities, for a refusal."""
    if not isinstance(old, dict):
        return "an unreadable header"
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return "; ".join(f"{k}: {old.get(k)!r} there, {new.get(k)!r} now" for k in keys[:3])


def task_yaml(name: str, of: str, documents: str, attack: dict, victim: dict) -> str:
    """The attack set's YAML (JSON values are YAML flow scalars and mappings)."""
    meta = {"attack": {**attack, "victim": victim}}
    return (f"# Made by skillneuron attack: {of} attacked ({attack['recipe']}). Evaluate it with\n"
            f"#   lm_eval --model {victim['model']}"
            + (f" --model_args '{victim['model_args']}'".replace("\n", " ") if victim["model_args"] else "")
            + f" --include_path THIS_FOLDER --tasks {of},{name}\n"
            f"task: {json.dumps(name)}\n"
            f"class: !function skillneuron_harness.host.attack_sets.AttackSet\n"
            f"attack: {json.dumps({'of': of, 'documents': documents})}\n"
            f"metadata: {json.dumps(meta, ensure_ascii=False, sort_keys=True)}\n")


def document_row(clean: dict, record: AttackRecord, recipe: str) -> dict:
    """One document of the attack set: the clean document with the record's fields and the pair's columns."""
    return {**clean, **record.fields, "clean_doc_id": record.doc_id, "perturbed": bool(record.substitutions),
            "changed_words": record.changed_words, "changed_chars": record.changed_chars,
            "attack_status": record.status, "perturbation": f"attack:{recipe}"}


def jsonl(rows) -> str:
    """JSON Lines, one row each, in the given order (the same rows give the same bytes)."""
    return "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)


# ------------------------------------------------------------------------------------------ the run
def masked_lm_for(lm, mlm: str | None, config: AttackConfig, device: str):
    """The mlm recipe's substitutes: ``--mlm`` or the victim's own masked LM."""
    from skillneuron_harness.attacks.masked_lm import MaskedLMSubstitutes

    if mlm:
        from transformers import AutoModelForMaskedLM, AutoTokenizer

        return MaskedLMSubstitutes(AutoModelForMaskedLM.from_pretrained(mlm).to(device),
                                   AutoTokenizer.from_pretrained(mlm), config)
    if getattr(lm, "backend", None) != "masked":
        raise AttackError("--recipe mlm needs a masked LM for its substitutes and the victim is not one; "
                          "pass --mlm PATH (e.g. a BERT or RoBERTa checkpoint).")
    return MaskedLMSubstitutes(lm.model, lm.tokenizer, config)


def run_attack(lm, task, out: str | Path, config: AttackConfig, *, task_name: str, fields: list[str] | None = None,
               limit: int | float | None = None, name: str | None = None, keep: str = "all",
               victim: dict | None = None, mlm: str | None = None, device: str = "cpu", width: int = 32,
               overwrite: bool = False, progress: bool = True) -> dict:
    """Attack ``task`` (a loaded lm-eval Task) on ``lm`` and write the outputs (module docstring); the summary."""
    from tqdm import tqdm

    from skillneuron_harness.attacks.transformations import CharEdits
    from skillneuron_harness.attacks.words import answer_phrases
    from skillneuron_harness.core.results import documents_under_limit
    from skillneuron_harness.host.attack_sets import VictimScorer, attackable_fields

    out = Path(out)
    name = name or f"{task_name}_attack_{config.recipe}"
    files = paths(out, name)
    docs = task.eval_docs
    total = documents_under_limit(len(docs), limit)
    if total == 0:
        raise AttackError(f"--task {task_name}: no evaluation documents to attack.")
    fields = fields or attackable_fields(task, docs[0])
    missing = [f for f in fields if not isinstance(docs[0].get(f), str)]
    if not fields or missing:
        text = sorted(k for k, v in docs[0].items() if isinstance(v, str))
        raise AttackError(f"--fields: {task_name}'s documents have no text field {(missing or ['(none)'])[0]!r}; "
                          f"their text fields: {', '.join(text) or 'none'}.")
    victim = victim or {"model": type(lm).__name__, "model_args": ""}
    identity = {"task": task_name, "name": name, "fields": fields, "documents": total, "keep": keep,
                "victim": victim, "mlm": mlm, **config.describe()}
    if files["summary"].exists() and not files["partial"].exists():
        old = json.loads(files["summary"].read_text(encoding="utf-8"))
        if old.get("attack") == identity:
            log.info("%s: already made with these settings; nothing to do", files["summary"])
            return old
        if not overwrite:
            raise AttackError(f"--out {out}: {name} exists, made with other settings "
                              f"({differences(old.get('attack'), identity)}); pass --overwrite or another --name.")
    done = read_partial(files["partial"], identity, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    if not done:
        write_text(files["partial"], json.dumps({"attack": identity}, ensure_ascii=False) + "\n")

    resumed = len(done)
    scorer = VictimScorer(lm, task, docs, task_name)
    transformation = masked_lm_for(lm, mlm, config, device) if config.recipe == "mlm" else CharEdits(config)
    targets = (Target(i, {f: docs[i][f] for f in fields}, scorer.gold(i),
                      answer_phrases(task.doc_to_choice(docs[i])))
               for i in range(total) if i not in done)
    started = time.perf_counter()
    bar = tqdm(total=total, initial=len(done), desc=f"Attacking {task_name}", unit="doc", disable=not progress)
    with files["partial"].open("a", encoding="utf-8") as partial:
        def finished(record: AttackRecord) -> None:
            partial.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")
            partial.flush()
            done[record.doc_id] = record
            bar.update(1)
            bar.set_postfix(succeeded=sum(r.status == SUCCEEDED for r in done.values()))

        run_searches(targets, transformation, config, scorer, width=width, done=finished)
    bar.close()
    elapsed = time.perf_counter() - started

    records = [done[i] for i in range(total)]
    summary = summarize(records)
    rows = [document_row(dict(docs[r.doc_id]), r, config.recipe) for r in records
            if keep == "all" or r.status == SUCCEEDED]
    write_text(files["documents"], jsonl(rows))
    write_text(files["log"], jsonl(r.to_json() for r in records))
    write_text(files["yaml"], task_yaml(name, task_name, files["documents"].name, config.describe(), victim))
    from skillneuron_harness import __version__
    from skillneuron_harness.host.evaluate import lm_eval_version

    result = {"results": {name: summary}, "attack": identity,
              "versions": {"skillneuron_harness": __version__, "lm_eval": lm_eval_version()},
              "time": {"seconds_this_run": round(elapsed, 3), "documents_this_run": total - resumed,
                       "queries_this_run": scorer.queries,
                       "queries_per_second": round(scorer.queries / elapsed, 2) if elapsed > 0 else None}}
    write_json(files["summary"], result, indent=2)
    files["partial"].unlink(missing_ok=True)
    return result


def attack_task(model: str, model_args: str, task: str, out: str | Path, *, limit: int | float | None = None,
                include_path: list[str] | None = None, batch_size: int | str = 32, device: str = "cpu",
                verbose: bool = False, **settings) -> dict:
    """``skillneuron attack`` as a call: the checks, the folder's lock, the model as lm-eval loads it, the task.

    ``settings``: the fields of :class:`AttackConfig` (recipe, max_words_changed, ...) and
    :func:`run_attack`'s keywords (fields, name, keep, mlm, width, overwrite, progress). Returns the summary.
    """
    from skillneuron_harness.core.folders import check_output_dir
    from skillneuron_harness.core.locks import FolderLock
    from skillneuron_harness.core.logs import host_logs
    from skillneuron_harness.core.results import parse_model_args
    from skillneuron_harness.host.evaluate import check_model, load_model
    from skillneuron_harness.host.tasks import load_task

    names = {f.name for f in dataclass_fields(AttackConfig)}
    config = AttackConfig(**{k: v for k, v in settings.items() if k in names})
    if settings.get("width", 32) < 1:
        raise AttackError(f"--width {settings['width']}: give a whole number of at least 1.")
    for key in ("skill_neurons", "output_path"):
        if key in parse_model_args(model_args):
            raise AttackError(f"--model_args {key}=: an attack writes no statistics; drop it (evaluate the written "
                              "task with skill_neurons= instead).")
    check_model(model, model_args)
    out = check_output_dir(out, "--out", what="attack set")
    with FolderLock(out, "--out"), host_logs(verbose):
        loaded = load_task(task, include_path or (), hint="pass its folder with --include_path")
        if loaded.OUTPUT_TYPE != "multiple_choice":
            raise AttackError(f"--task {task}: a {loaded.OUTPUT_TYPE} task; attacks flip the choice of "
                              "multiple-choice tasks.")
        lm = load_model(model, model_args, batch_size=batch_size, device=device)
        return run_attack(lm, loaded, out, config, task_name=task, limit=limit, device=device,
                          victim={"model": model, "model_args": model_args},
                          **{k: v for k, v in settings.items() if k not in names})


def main(argv: list[str]) -> int:
    """Entry point of ``skillneuron attack``."""
    args = build_parser().parse_args(argv)
    from skillneuron_harness.core.logs import setup_logging
    from skillneuron_harness.core.results import parse_limit

    setup_logging(logging.INFO)
    try:
        fields = [f.strip() for f in args.fields.split(",") if f.strip()] if args.fields else None
        result = attack_task(
            args.model, args.model_args, args.task, args.out, limit=parse_limit(args.limit),
            include_path=args.include_path, device=args.device, verbose=args.verbose,
            batch_size=int(args.batch_size) if args.batch_size.isdigit() else args.batch_size,
            fields=fields, name=args.name, keep=args.keep, mlm=args.mlm, width=args.width, overwrite=args.overwrite,
            **{f.name: getattr(args, f.name) for f in dataclass_fields(AttackConfig)})
    except (FileNotFoundError, ValueError) as err:
        print(f"skillneuron attack: {err}")
        return 2
    name = next(iter(result["results"]))
    s = result["results"][name]
    print(f"{name}: {s['documents']} documents, clean accuracy {s['clean_acc']:.3f}, under attack "
          f"{s['attacked_acc']:.3f} (success rate {_fmt(s['success_rate'])}, {_fmt(s['mean_queries'], '.1f')} "
          f"queries per attacked document, {_fmt(s['mean_words_changed'])} of the words changed)")
    model_args = f" --model_args '{args.model_args}'" if args.model_args else ""
    print(f"evaluate it: lm_eval --model {args.model}{model_args} --include_path {Path(args.out).absolute()} "
          f"--tasks {result['attack']['task']},{name}")
    return 0


def _fmt(value, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)
