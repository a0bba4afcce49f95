#!/usr/bin/env bash
# The real-weights finding of docs/statistics.md ("Per-example consistency on the demo model"):
# the demo model (all-MiniLM-L6-v2 with its shipped SST-2 prompt) on SST-2 and three paired sets:
# AdvGLUE SST-2 (matched to its GLUE originals), the shipped character twin sn_sst2_chars, and an
# attack set made against the model itself. Writes everything under OUT (default: finding/).
#
#   bash scripts/finding_demo.sh [OUT] [PATCH_LIMIT]
#
# PATCH_LIMIT (default 300): pairs per patched task (patching scores one document per pass).
set -euo pipefail
OUT=${1:-finding}
PATCH_LIMIT=${2:-300}
mkdir -p "$OUT"
read -r MODEL PROMPT < <(python -c "from skillneuron_harness.host.demo_model import default_model_args as a; print(*a())")

TIMEFORMAT="  %R s wall, %U s user"
echo "attack:"; time \
  skillneuron attack --task sst2 --out "$OUT/attacks" --batch_size 64
echo "evaluation with skill neurons:"; time \
  lm_eval --model prompt_tuned --model_args "skill_neurons=$OUT/sn" --include_path "$OUT/attacks" \
    --tasks sst2,adv_sst2,sn_sst2_chars,sst2_attack_chars --batch_size 64 --output_path "$OUT/runs"
for task in adv_sst2 sn_sst2_chars sst2_attack_chars; do
  echo "patch $task:"; time \
    skillneuron patch --model "$MODEL" --prompt "$PROMPT" --task "$task" --include-path "$OUT/attacks" \
      --neurons "$OUT/sn/sst2.safetensors" --limit "$PATCH_LIMIT" --out "$OUT/patch/$task"
done
