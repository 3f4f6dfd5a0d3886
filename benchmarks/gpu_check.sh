#!/usr/bin/env bash
# On a lent GPU machine, from the repository root: per-model images/second on CUDA (bf16 and
# fp32), then a tiny study end to end on CUDA with bf16 autocast. Copies the study's summary
# and manifest to $OUT when that is set.
set -euo pipefail
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$(pwd)" PYTHONUNBUFFERED=1
python3 benchmarks/gpu_check.py
study=/tmp/gpu_study
python3 -m lossbench run studies/l2_vs_perceptual.yaml --device cuda --out "$study" \
  --set data.name=synthetic --set data.n=2000 --set seeds=[0] --set training.epochs=2 --set training.amp=true
python3 - "$study" <<'PY'
import json, sys, pandas as pd
s = pd.read_csv(f"{sys.argv[1]}/summary.csv")
m = json.load(open(f"{sys.argv[1]}/manifest.json"))
print("study on", m["device"]["name"], "- runs done:", (s.status == "done").sum(), "of", len(s))
print(s[["model", "condition", "status", "mse", "ssim", "train_seconds"]].to_string(index=False))
PY
if [ -n "${OUT:-}" ]; then cp "$study/summary.md" "$study/manifest.json" "$OUT/"; fi
