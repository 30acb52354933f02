#!/usr/bin/env bash
# Train every INR model on the CAVE HSI–MSI task at once on one GPU, then compare them with the
# classical methods on the hold-out region (scripts/eval_cave.py). Used on the lent GPU machine:
#   bash scripts/gpu_train_cave.sh OUTDIR SECONDS [DATA]
# Each run stops after SECONDS of training (train.time_limit) and writes OUTDIR/<model>/{best,last}.pt.
set -euo pipefail
out=${1:?usage: gpu_train_cave.sh OUTDIR SECONDS [DATA]}; seconds=${2:?seconds}; data=${3:-.gpudata/hsi}
models=(liif qis hyper_inr naive_pinr dynamic_pinr ss_inr)
mkdir -p "$out"
for m in "${models[@]}"; do
  python3 -m fusion.cli -q train "configs/train/${m}_hsi_msi_cave.yaml" --out "$out/$m" --device cuda \
    --set data.root="$data" --set train.time_limit="$seconds" --set train.workers=2 --set val.every=250 \
    > "$out/$m.log" 2>&1 &
done
wait
ckpts=()
for m in "${models[@]}"; do
  if [ -f "$out/$m/best.pt" ]; then ckpts+=("$out/$m/best.pt"); else echo "no best.pt for $m"; tail -5 "$out/$m.log"; fi
done
python3 scripts/eval_cave.py --data "$data" --device cuda --ckpt "${ckpts[@]}" --out "$out/eval_cave.json"
