"""Request Instances built the same way under lm-eval 0.4.13 and next0.5.

0.4.13's ``Instance`` is ``(request_type, doc, arguments, idx, metadata=(task, doc_id, repeats))``
and fills ``task_name`` / ``doc_id`` from the tuple; next0.5's has ``task_name`` fourth and
``doc_id`` keyword-only (a tuple ``metadata`` still unpacks). Every field is given by keyword, the
task and document both as fields and as the tuple, so that either version ends with the same values.
"""

from __future__ import annotations

import dataclasses

from lm_eval.api.instance import Instance

# next0.5's Instance (with a ``target`` field) gives rolling requests ("", text), as a loglikelihood
# pair with an empty context; 0.4.13's rolling requests are (text,).
_ROLLING_PAIR = "target" in {f.name for f in dataclasses.fields(Instance)}


def request(request_type: str, arguments: tuple, idx: int = 0, *, task: str | None = "t",
            doc_id: int | None = None, doc: dict | None = None) -> Instance:
    """One request of document ``doc_id`` (default: ``idx``) of ``task``."""
    doc_id = idx if doc_id is None else doc_id
    return Instance(request_type=request_type, doc={} if doc is None else doc, arguments=arguments, idx=idx,
                    task_name=task, doc_id=doc_id, metadata=(task, doc_id, 1))


def rolling_request(text: str, idx: int = 0, *, task: str | None = "t") -> Instance:
    """One ``loglikelihood_rolling`` request of ``text``, its arguments as the installed lm-eval's tasks build them."""
    return request("loglikelihood_rolling", ("", text) if _ROLLING_PAIR else (text,), idx, task=task)


def loglikelihood_requests(contexts: list[str], choices: list[str], task: str = "t") -> list[Instance]:
    """Context i, choice j -> one loglikelihood request of document i, idx i (the tests' usual shape)."""
    return [request("loglikelihood", (ctx, c), i, task=task) for i, ctx in enumerate(contexts) for c in choices]


def logged_loglikelihoods(sample: dict) -> list[float]:
    """The per-request log-likelihoods of one logged sample (``simple_evaluate(log_samples=True)``).

    0.4.13 logs each request's filtered response as one ``(ll, is_greedy)`` pair; next0.5 logs the
    request's list of responses, ``[(ll, is_greedy)]``.
    """
    out = []
    for resp in sample["filtered_resps"]:
        ((ll, _),) = resp if isinstance(resp[0], (list, tuple)) else (resp,)
        out.append(float(ll))
    return out


def rolling_value(result) -> float:
    """One ``loglikelihood_rolling`` result as a number: 0.4.13 returns the sum, next0.5 ``(sum, False)``."""
    return float(result[0] if isinstance(result, tuple) else result)
