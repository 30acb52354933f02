#!/usr/bin/env bash
# Protocol P-CAVE training on the lent GPU machine (configs/train/p_cave): every INR model trained on both
# CAVE scenes (the checkpoints to ship) and leave-one-out (trained on one scene, tested on the other).
# Runs are spread round-robin over the visible GPUs and run concurrently, each for SECONDS at most.
#   [PRIOR=glp-hs] bash scripts/gpu_train_p_cave.sh OUTDIR SECONDS [DATA] [MODELS...]
# The configs train each model as a correction of GLP-HS (model.args.prior). PRIOR: another classical
# method instead (PRIOR=null: none); the runs are then named <model>_prior_<split>.
# Writes OUTDIR/<model>_<split>/{last,best}.pt and logs, and OUTDIR/weights/<model>_<split>.pt: the
# last EMA weights alone in float16 (small enough to bring back), for evaluation elsewhere.
set -euo pipefail
out=${1:?usage: gpu_train_p_cave.sh OUTDIR SECONDS [DATA] [MODELS...]}; seconds=${2:?seconds}
data=${3:-.gpudata/hsi}; shift $(( $# < 3 ? $# : 3 ))
models=("$@"); [ ${#models[@]} -gt 0 ] || models=(liif qis hyper_inr naive_pinr dynamic_pinr ss_inr)
balloons=cave_balloons.npz; peppers=cave_fake_and_real_peppers.npz
declare -A splits=(
  [both]=""
  [train_balloons]="--set data.args.files=[$balloons] --set val.data.args.files=[$peppers]"
  [train_peppers]="--set data.args.files=[$peppers] --set val.data.args.files=[$balloons]"
)
gpus=$(python3 -c "import torch; print(max(1, torch.cuda.device_count()))")
mkdir -p "$out/weights"
i=0
for m in "${models[@]}"; do
  for split in both train_balloons train_peppers; do
    run="${m}${PRIOR:+_prior}_${split}"
    # shellcheck disable=SC2086  # the split's overrides are separate words
    CUDA_VISIBLE_DEVICES=$(( i % gpus )) python3 -m fusion.cli -q train "configs/train/p_cave/${m}.yaml" \
      --out "$out/$run" --device cuda --set data.root="$data" --set train.time_limit="$seconds" \
      ${PRIOR:+--set model.args.prior=$PRIOR} \
      ${splits[$split]} > "$out/$run.log" 2>&1 &
    i=$(( i + 1 ))
  done
done
wait || true
python3 scripts/export_weights.py "$out/weights" "$out"/*/
