"""Train a soft prompt on an lm-eval task with the scorer that ``prompt_tuned`` evaluates with.

:func:`train` loads the frozen model through ``prompt_tuned`` (:class:`PromptTunedLM`, so the
backend, tokenizer and truncation are the evaluation's), wraps it with PEFT prompt tuning
(``PromptTuningConfig`` + ``get_peft_model``; for seq2seq ``num_transformer_submodules=1``, the
prompt goes to the encoder only) and trains ``prompt_embeddings`` alone with AdamW at a constant
learning rate. The loss of a document is the cross-entropy of its gold choice under a softmax over
the choices' log-likelihoods from :func:`~skillneuron_harness.core.scoring.score_groups`, the
very function ``prompt_tuned`` ranks the choices with; validation accuracy is the argmax of the same
scores, so it equals what ``lm_eval --model prompt_tuned --model_args ...,prompt=OUTPUT`` reports on
the same documents. Everything random (the prompt's initialisation, dropout, the order of the data)
follows ``seed``, so that one seed gives bitwise the same prompt on CPU, resumed or not.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

import skillneuron_harness.experiments.training.checkpoint as ckpt
from skillneuron_harness.core.atomic import recover_dir, write_json
from skillneuron_harness.core.constants import PEFT_TASK_TYPES
from skillneuron_harness.core.folders import check_output_dir
from skillneuron_harness.core.model_source import check_model_source
from skillneuron_harness.core.scoring import score_groups
from skillneuron_harness.experiments.training.config import TrainConfig, default_lr
from skillneuron_harness.experiments.training.data import (
    Example,
    TaskError,
    batches,
    encode_docs,
    epoch_order,
    eval_split,
    load_task,
    subset,
)

log = logging.getLogger(__name__)

INIT_NAMES = {"random": "RANDOM", "vocab": "SAMPLE_VOCAB", "text": "TEXT"}
SUBSET_SEED = 0  # --limit-train picks the same documents for every --seed


@dataclass
class TrainResult:
    """What a run reached; the best prompt is the PEFT adapter in ``output``."""

    output: Path
    best_accuracy: float | None
    best_step: int | None
    steps: int
    history: list[dict]
    seconds: float


@dataclass
class PromptModel:
    """The frozen model, its tokenizer and backend, and the trainable prompt (P, d) inside PEFT."""

    lm: object  # PromptTunedLM: tokenisation and truncation as in evaluation
    peft_model: object  # peft.PeftModel around lm.model
    backend: str

    @property
    def model(self):
        return self.lm.model

    @property
    def prompt(self) -> torch.nn.Parameter:
        return self.peft_model.prompt_encoder["default"].embedding.weight  # (P, d)


def load_model(config: TrainConfig) -> PromptModel:
    """The base model through ``prompt_tuned`` and a fresh PEFT prompt, initialised from ``config.seed``."""
    from peft import PromptTuningConfig, get_peft_model

    from skillneuron_harness.host.model import PromptTunedLM

    lm = PromptTunedLM(pretrained=config.model, backend=config.backend, device=config.device, dtype="float32",
                       batch_size=config.eval_batch_size)
    torch.manual_seed(config.seed)
    peft_config = PromptTuningConfig(
        task_type=PEFT_TASK_TYPES[lm.backend],
        num_virtual_tokens=config.num_virtual_tokens,
        num_transformer_submodules=1,  # encoder-only prompt for seq2seq, as the papers
        prompt_tuning_init=INIT_NAMES[config.init],
        prompt_tuning_init_text=config.init_text,
        tokenizer_name_or_path=config.model if config.init == "text" else None,
    )
    peft_model = get_peft_model(lm.model, peft_config)
    pm = PromptModel(lm, peft_model, lm.backend)
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    if trainable != ["prompt_encoder.default.embedding.weight"]:
        raise RuntimeError(f"Expected the prompt to be the only trainable tensor, found {trainable}.")
    # prompt_tuned's truncation (max_length minus the virtual tokens) must count the prompt.
    lm.engine.num_virtual_tokens = config.num_virtual_tokens
    return pm


def choice_scores(pm: PromptModel, examples: list[Example]) -> list[torch.Tensor]:
    """Per document, the log-likelihood of each choice (n_choices,), differentiable in the prompt."""
    scored = score_groups(pm.backend, pm.model, pm.prompt, [e.group for e in examples], pm.lm.tokenizer)
    return scored.logprobs


def batch_loss(pm: PromptModel, examples: list[Example]) -> torch.Tensor:
    """Mean over documents of -log softmax(choice log-likelihoods)[gold]: a scalar."""
    losses = [F.cross_entropy(lp.unsqueeze(0), torch.tensor([e.gold], device=lp.device))  # (1, C) vs (1,)
              for lp, e in zip(choice_scores(pm, examples), examples, strict=True)]
    return torch.stack(losses).mean()


def evaluate(pm: PromptModel, examples: list[Example], batch_size: int, desc: str = "Validating") -> dict:
    """Accuracy (argmax of the choices' log-likelihoods, as lm-eval's ``acc``) and mean loss."""
    was_training = pm.model.training
    pm.model.eval()
    correct, loss = 0, 0.0
    try:
        with torch.no_grad():
            for batch in tqdm(batches(examples, range(len(examples)), batch_size), desc=desc, leave=False):
                for lp, e in zip(choice_scores(pm, batch), batch, strict=True):
                    correct += int(int(lp.argmax()) == e.gold)
                    loss += float(F.cross_entropy(lp.unsqueeze(0), torch.tensor([e.gold], device=lp.device)))
    finally:
        pm.model.train(was_training)
    n = max(len(examples), 1)
    return {"accuracy": correct / n, "loss": loss / n, "n": len(examples)}


def prepare(config: TrainConfig):
    """Load the task, the model and the encoded examples; resolve the learning rate."""
    task = load_task(config.task, config.include_path)
    pm = load_model(config)
    if config.lr is None:
        config = replace(config, lr=default_lr(pm.backend))
        log.info("lr not given: %g, the papers' value for the %s backend.", config.lr, pm.backend)
    train_docs = subset(task.training_docs(), config.limit_train, SUBSET_SEED)
    split, eval_docs = eval_split(task)
    eval_docs = subset(eval_docs, config.limit_eval, None)
    train = encode_docs(task, train_docs, pm.lm, max_text_length=config.max_text_length, desc="Encoding train")
    valid = encode_docs(task, eval_docs, pm.lm, desc=f"Encoding {split}")
    info = {"training_split": task.config.training_split, "training_docs": len(train), "eval_split": split,
            "eval_docs": len(valid), "backend": pm.backend, "lm_eval_task_config": _task_summary(task)}
    return config, pm, train, valid, info


def _task_summary(task) -> dict:
    keys = ("task", "dataset_path", "dataset_name", "doc_to_text", "doc_to_choice", "doc_to_target",
            "target_delimiter", "description", "num_fewshot")
    cfg = task.config
    return {k: getattr(cfg, k, None) if isinstance(getattr(cfg, k, None), (str, int, list, type(None)))
            else repr(getattr(cfg, k, None)) for k in keys}


def train(config: TrainConfig) -> TrainResult:
    """Run (or resume) the training that ``config`` describes; see the module docstring."""
    started = time.perf_counter()
    target = Path(config.output)
    recover_dir(target)  # a kill between the two renames of a finished --overwrite
    if target.exists() and not target.is_dir():
        raise TaskError(f"--output {target} is a file; pass a folder for the adapter.")
    check_output_dir(target, "--output", what="adapter, log and checkpoints", error=TaskError)  # before the model
    check_model_source(config.model, "--model")  # a missing folder or a malformed Hub id, before the task is read
    staging = None
    if not config.resume and ckpt.has_run(target):
        # --overwrite keeps the finished run in place until this one has finished (see checkpoint.py).
        staging = ckpt.overwrite_staging(target)
        log.info("--overwrite: training in %s; %s keeps its previous run until this one finishes.", staging, target)
    elif config.resume and ckpt.overwrite_staging(target).exists():
        log.warning("%s holds an interrupted --overwrite run of %s; this run resumes the previous one. Rerun with "
                    "--overwrite to finish the replacement (or delete that folder).", ckpt.overwrite_staging(target),
                    target)
    output = staging or target
    config, pm, train_examples, valid_examples, info = prepare(config)  # a task or model that fails leaves nothing
    output.mkdir(parents=True, exist_ok=True)
    prompt = pm.prompt
    optimizer = torch.optim.AdamW([prompt], lr=config.lr, weight_decay=config.weight_decay)
    trajectory = config.trajectory()
    try:
        saved = ckpt.load_checkpoint(output, trajectory)
    except ValueError:
        if staging is None:
            raise
        ckpt.clear_run(output)  # an interrupted --overwrite with other settings: start this one afresh
        saved = None
    if saved is None:
        ckpt.truncate_log(output, 0)  # lines of a run killed before its first checkpoint
    state = ckpt.RunState()
    if saved is not None:
        with torch.no_grad():
            prompt.copy_(saved["prompt"])
        optimizer.load_state_dict(saved["optimizer"])
        torch.set_rng_state(saved["torch_rng"])
        state = saved["state"]
        ckpt.truncate_log(output, state.step)
        log.info("Resuming %s at epoch %d, batch %d (step %d).", output, state.epoch + 1, state.batches_done,
                 state.step)
    write_json(output / ckpt.CONFIG_FILE, {"config": config.to_dict(), "run": info, "versions": ckpt.versions()})

    train_log = ckpt.TrainLog(output)
    try:
        _loop(config, pm, optimizer, state, train_examples, valid_examples, train_log, output, trajectory)
    finally:
        train_log.close()
    if staging is not None:
        ckpt.finish_overwrite(staging, target)
    seconds = time.perf_counter() - started
    log.info("Best validation accuracy %s at step %s; adapter in %s (%.0f s).", state.best_accuracy,
             state.best_step, target, seconds)
    return TrainResult(target, state.best_accuracy, state.best_step, state.step, state.history, seconds)


def _stopped(config: TrainConfig, state: ckpt.RunState) -> bool:
    patience = config.early_stopping_patience
    return ((config.max_steps is not None and state.step >= config.max_steps)
            or (patience is not None and state.evals_since_best >= patience))


def _bar_extent(config, state: ckpt.RunState, per_epoch: int) -> tuple[int, int]:
    """(batches this epoch will run up to, epochs the run will take): max_steps may end both early."""
    if config.max_steps is None:
        return per_epoch, config.epochs
    left = config.max_steps - state.step  # steps still to run
    total = min(per_epoch, state.batches_done + left)
    epochs = state.epoch + max(1, math.ceil((state.batches_done + left) / per_epoch))
    return total, min(config.epochs, epochs)


def _loop(config, pm, optimizer, state, train_examples, valid_examples, train_log, output, trajectory) -> None:
    prompt = pm.prompt
    while state.epoch < config.epochs and not _stopped(config, state):
        order = epoch_order(len(train_examples), config.seed, state.epoch)
        epoch_batches = batches(train_examples, order, config.batch_size)
        pm.model.train(config.dropout)
        total, epochs = _bar_extent(config, state, len(epoch_batches))
        bar = tqdm(epoch_batches, desc=f"Epoch {state.epoch + 1}/{epochs}", initial=state.batches_done,
                   total=total, unit="step")
        for batch in epoch_batches[state.batches_done:]:
            optimizer.zero_grad(set_to_none=True)
            loss = batch_loss(pm, batch)
            loss.backward()
            optimizer.step()
            state.step += 1
            state.batches_done += 1
            train_log.write(step=state.step, epoch=state.epoch + 1, loss=loss.item(), lr=config.lr)
            bar.set_postfix(loss=f"{loss.item():.4f}")
            bar.update(1)
            if _stopped(config, state):
                break
        bar.close()
        if state.batches_done >= len(epoch_batches):
            state.epoch, state.batches_done = state.epoch + 1, 0
        _validate(config, pm, state, valid_examples, train_log, output)
        ckpt.save_checkpoint(output, prompt, optimizer, state, trajectory)


def _validate(config, pm, state, valid_examples, train_log, output) -> None:
    result = evaluate(pm, valid_examples, config.eval_batch_size)
    improved = state.best_accuracy is None or result["accuracy"] > state.best_accuracy
    if improved:
        state.best_accuracy, state.best_step, state.evals_since_best = result["accuracy"], state.step, 0
        ckpt.save_adapter(pm.peft_model, output)
    else:
        state.evals_since_best += 1
    row = {"step": state.step, "epoch": state.epoch if state.batches_done == 0 else state.epoch + 1,
           "validation_accuracy": result["accuracy"], "validation_loss": result["loss"],
           "best": improved}
    state.history.append(row)
    train_log.write(**row)
    tqdm.write(f"step {state.step}: validation accuracy {result['accuracy']:.4f} (loss {result['loss']:.4f})"
               f"{' - new best, saved' if improved else ''}")
