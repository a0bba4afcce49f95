"""The bottom layer: what every other layer builds on, with nothing of lm-eval and nothing above it.

:mod:`.scoring` (choice groups -> log-likelihoods for every backend; evaluation and training share
it), :mod:`.observers` (the narrow door through which statistics and suppression watch the forward
passes), :mod:`.options` (``model_args`` groups as dataclasses), :mod:`.results` (the one reader of
lm-eval results JSON, the one ``model_args`` parser and formatter, the one ``--limit`` rule),
:mod:`.constants` (defaults shared by several commands), :mod:`.errors`, :mod:`.atomic` (writes
that never leave half a file), :mod:`.folders` (output folders checked before any work),
:mod:`.locks` (one writer per output folder), :mod:`.shipped` (where the shipped ``task_configs/``
lies) and :mod:`.advglue_pairs` (the GLUE dev document each AdvGLUE dev document was made from).
"""
