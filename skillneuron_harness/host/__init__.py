"""The host layer: everything that imports lm-eval, and nothing else does.

:mod:`.model` is ``prompt_tuned`` (a thin ``HFLM`` subclass over the scoring engine),
:mod:`.model_args` its options, :mod:`.tasks` and :mod:`.task_format` the one path from an lm-eval
document to tokens, :mod:`.compat` every private or version-dependent lm-eval access (the
checklist for an upgrade), :mod:`.evaluate` the task manager, model loading and ``evaluate`` call
that our commands share, :mod:`.bridge` how the stock ``lm_eval`` finds us (imported at interpreter
start: this ``__init__`` stays empty of imports), and :mod:`.demo_model` the model ``prompt_tuned``
evaluates when no ``pretrained=`` is given.
"""
