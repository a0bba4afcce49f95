"""Print the loglikelihoods of a few SST-2 style requests as JSON (run in a fresh process by the tests).

Usage: python loglikelihoods.py MODEL_DIR|default [...]   (one JSON line per model)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from skillneuron_harness.host.model import PromptTunedLM

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests/, for lm_requests
from lm_requests import loglikelihood_requests  # noqa: E402

CONTEXTS = ["a gripping , funny film .\nQuestion: Is this sentence positive or negative?\nAnswer:",
            "dull and lifeless .\nQuestion: Is this sentence positive or negative?\nAnswer:"]


def main(target: str) -> None:
    lm = PromptTunedLM(device="cpu", batch_size=4) if target == "default" else PromptTunedLM(
        pretrained=target, device="cpu", batch_size=4)
    requests = loglikelihood_requests(CONTEXTS, [" negative", " positive"])
    print(json.dumps({"model": str(lm.pretrained), "prompt": lm.args.prompt,
                      "loglikelihoods": [lp for lp, _ in lm.loglikelihood(requests, disable_tqdm=True)]}))


if __name__ == "__main__":
    for target in sys.argv[1:]:
        main(target)
