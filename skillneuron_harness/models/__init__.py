"""lm-eval models: ``prompt_tuned`` (prompt_tuned.py) and the scorers it shares with training (scoring.py)."""

from skillneuron_harness.errors import install_excepthook

# Our model is in use: print its errors as one line under any front end (lm_eval, accelerate, scripts).
install_excepthook()
