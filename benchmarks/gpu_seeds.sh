#!/usr/bin/env bash
# On a lent GPU machine, from the repository root (issue 12 §4): images/second of K seeds trained
# side by side (training.vectorize_seeds) for K = 1, 8, 32, 128, against one by one for K <= 8;
# then one small study end to end on CUDA twice, seeds side by side and one by one, with the
# wall time of each and the largest difference between their per-run metrics.
# Writes its output to $OUT when that is set.
set -uo pipefail
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$(pwd)" PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp}
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 benchmarks/vectorised_seeds.py --device cuda --seeds 1,8,32,128 --models ae-mlp,ae-conv --data synthetic \
  --default-sizes --separate --separate-max 8 --epochs 3 2>&1 | tee "$OUT/seeds.txt"
study=/tmp/gpu_seeds.yaml
cat > "$study" <<'YAML'
name: gpu_seeds
description: three conditions that vectorise, 8 seeds, early-stopped, on synthetic digits-sized images
seeds: [0, 1, 2, 3, 4, 5, 6, 7]
data: {name: synthetic, n: 5000, size: 28, validation_fraction: 0.1}
models: [{name: ae-conv, channels: [16, 32]}]
conditions:
  l2: [{term: l2}]
  bce: [{term: bce}]
  l2+perceptual(domain): [{term: l2}, {term: perceptual, network: domain, weight: 100}]
training: {batch_size: 128, lr: 2.0e-3, early_stopping: {patience: 4, min_delta: 0.002, max_epochs: 40}}
metrics: [mse, psnr, ssim]
report: {baseline: l2}
YAML
export LOSSBENCH_CACHE=/tmp/lbcache
for mode in true false; do
  start=$(date +%s.%N)
  python3 -m lossbench run "$study" --device cuda --out "/tmp/gs_$mode" --set training.vectorize_seeds=$mode 2>&1 | grep -v "^\s*$" | tail -3
  echo "vectorize_seeds=$mode: $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s wall"
done 2>&1 | tee "$OUT/study.txt"
python3 - <<'PY' 2>&1 | tee -a "$OUT/study.txt"
import pandas as pd
a = pd.read_csv("/tmp/gs_true/summary.csv").set_index(["condition", "seed"])
b = pd.read_csv("/tmp/gs_false/summary.csv").set_index(["condition", "seed"])
for c in ("mse", "ssim", "epochs", "train_seconds"):
    if c in a:
        rel = ((a[c] - b[c]).abs() / b[c].abs()).max()
        print(f"{c}: side by side mean {a[c].mean():.4g}, one by one {b[c].mean():.4g}, largest relative difference per run {rel:.2e}")
PY
cp /tmp/gs_true/summary.md "$OUT/summary_side_by_side.md" 2>/dev/null || true
