"""skillneuron-harness: prompt-tuned models and skill-neuron statistics for lm-evaluation-harness.

Importing this package is cheap on purpose (no torch, transformers or lm_eval): the startup
bridge imports it in every interpreter. The heavy parts live in submodules.
"""

__version__ = "0.1.0"
