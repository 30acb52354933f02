#!/usr/bin/env bash
# Train every INR model on the four training tasks (configs/train/<model>_<task>.yaml: each model corrects a
# classical prior and is back-projected onto its LR input, see configs/train/tasks) on the lent GPU machine,
# then score the last EMA weights against every classical method on each task's held-out data.
#   bash scripts/gpu_train_tasks.sh OUTDIR SECONDS [DATA] [TASKS...]
# DATA holds hsi/ and pansharpening/ (default .gpudata). Task number t runs on GPU t mod (GPU count); the six
# models of a task train concurrently on it, each for SECONDS at most (train.time_limit).
# Writes OUTDIR/<task>/<model>/ (run folders and logs), OUTDIR/holdout_<task>.{json,md} (fusion bench
# holdout of the last EMA weights, or of best.pt for a task with a test split, at ratios 2, 3, 4, 3.3, 6,
# 8, classical methods also back-projected) and OUTDIR/weights/<task>/ (the last EMA weights in float16,
# scripts/export_weights.py).
set -euo pipefail
out=${1:?usage: gpu_train_tasks.sh OUTDIR SECONDS [DATA] [TASKS...]}; seconds=${2:?seconds}
data=${3:-.gpudata}; shift $(( $# < 3 ? $# : 3 ))
tasks=("$@"); [ ${#tasks[@]} -gt 0 ] || tasks=(hsi_msi_cave hs_pan_aviris hs_pan_houston ms_pan_wv2)
models=(liif qis hyper_inr naive_pinr dynamic_pinr ss_inr)
declare -A folder=([hsi_msi_cave]=hsi [hs_pan_aviris]=hsi [hs_pan_houston]=hsi [ms_pan_wv2]=pansharpening)
gpus=$(python3 -c "import torch; print(max(1, torch.cuda.device_count()))")
for i in "${!tasks[@]}"; do
  task=${tasks[$i]}; mkdir -p "$out/$task"
  for m in "${models[@]}"; do
    CUDA_VISIBLE_DEVICES=$(( i % gpus )) python3 -m fusion.cli -q train "configs/train/${m}_${task}.yaml" \
      --out "$out/$task/$m" --device cuda --set data.root="$data/${folder[$task]}" \
      --set train.time_limit="$seconds" --set train.workers=2 > "$out/$task/$m.log" 2>&1 &
  done
done
wait || true
for i in "${!tasks[@]}"; do
  task=${tasks[$i]}
  # a task with a test split lets validation pick the step (best.pt); otherwise the last EMA weights
  ckpt=$(python3 -c "import sys; from fusion.config import load_config
print('best.pt' if (load_config(sys.argv[1]).get('test') or {}).get('data') else 'last.pt')" \
    "configs/train/tasks/$task.yaml")
  CUDA_VISIBLE_DEVICES=$(( i % gpus )) python3 -m fusion.cli bench holdout "configs/train/tasks/$task.yaml" \
    --set data.root="$data/${folder[$task]}" --device cuda --ratios 2,3,4,3.3,6,8 --back-projection 10 \
    $(for run in "$out/$task"/*/$ckpt; do printf -- '-c %s ' "$run"; done) \
    --out-json "$out/holdout_$task.json" > "$out/holdout_$task.md" 2>&1 &
done
wait || true
for task in "${tasks[@]}"; do python3 scripts/export_weights.py "$out/weights/$task" "$out/$task"/*/; done
