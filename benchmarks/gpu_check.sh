#!/usr/bin/env bash
# GPU readiness: everything vzoo needs a GPU for, in one run of < 5 minutes on one GPU.
#
#   benchmarks/gpu_check.sh [--dry-run] [--keep-going] [OUT_DIR]
#
# 1. the Triton selective scan against the float64 reference (benchmarks/scan_gpu.py --quick);
# 2. `vzoo bench` of the four T classifiers at the papers' protocol (bs 128, 224², 50 + 30
#    passes), fp32 and --amp, and of one detector (mlla-t-1x, whole model, bs 1, 1280x800);
#    `vzoo bench --sweep` of the four T backbones and mmdet's Swin-T and R-50 backbones at
#    224..1024² (cost against input size; its figure through `vzoo compare --plot` and html);
# 3. an end-to-end `vzoo eval` of one detection row (msvmamba-micro-1x) on synthetic COCO with
#    --random-init, on the GPU;
# 4. `vzoo compare` over what this run measured.
# Everything goes under OUT_DIR (default: $OUT if set, else reports/gpu_check): one log per step,
# the bench json records, the compare report, and summary.md with each step's status and time.
# Its results store is OUT_DIR/vzoo-home, so it neither reads nor pollutes the user's.
#
# Fails loudly: the first failing step stops the run, prints its name, exit code and the end of
# its log, and the script exits 1. Every bench/eval output is checked, not just its exit code.
# Where mmcv is installed without its compiled ops (mmcv-lite, or a CPU build on a CUDA machine),
# the steps that need them (mmdet's backbones in the sweep, the detector bench, the eval) are
# listed as NOT RUN in the summary with the reason, the others run, and the script exits 1.
# --keep-going (for a machine lent for minutes): a failing step is recorded and the next one runs;
# the script still exits 1 and names every failed step.
#
# --dry-run (or VZOO_GPU_CHECK_DRY_RUN=1): the same steps on the CPU at toy sizes (Triton's CPU
# interpreter, batch 1, one timed pass, small detector input, eval on CPU): checks the plumbing,
# not the speed.
set -euo pipefail

DRY="${VZOO_GPU_CHECK_DRY_RUN:-0}"
KEEP_GOING=0
while [[ "${1:-}" == --* ]]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --keep-going) KEEP_GOING=1 ;;
    *) echo "gpu_check: unknown option $1 (use --dry-run, --keep-going)" >&2; exit 2 ;;
  esac
  shift
done
REPO="$(cd "$(dirname "$0")/.." && pwd)"
OUT_DIR="${1:-${OUT:-$REPO/reports/gpu_check}}"
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# Import this checkout as `vzoo` whatever the directory is called (the repository root is the
# package) and whether or not it is pip-installed.
mkdir -p "$WORK/pkgroot"
ln -s "$REPO" "$WORK/pkgroot/vzoo"
export PYTHONPATH="$WORK/pkgroot${PYTHONPATH:+:$PYTHONPATH}"
export VZOO_HOME="$OUT_DIR/vzoo-home"
export PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
vzoo() { "$PY" -m vzoo.cli.main "$@"; }

SUMMARY="$OUT_DIR/summary.md"
STARTED=$SECONDS
{
  echo "# gpu_check $(date -u +%Y-%m-%dT%H:%M:%SZ)$([[ $DRY == 1 ]] && echo ' (dry run on CPU)')"
  echo
  echo "vzoo $(git -C "$REPO" rev-parse --short=12 HEAD 2>/dev/null || echo '?'), $(uname -srm)"
  echo
  echo "| step | status | seconds |"
  echo "|---|---|---:|"
} > "$SUMMARY"

step() {  # step NAME COMMAND...: run, log to OUT_DIR/NAME.log, stop the whole check on failure
  local name="$1"; shift
  local log="$OUT_DIR/$name.log" t0=$SECONDS rc=0
  echo "gpu_check: $name ..." >&2
  "$@" > "$log" 2>&1 || rc=$?
  if [[ $rc -ne 0 ]]; then
    echo "| $name | FAILED (exit $rc) | $((SECONDS - t0)) |" >> "$SUMMARY"
    echo "gpu_check: FAILED at step '$name' (exit $rc); last lines of $log:" >&2
    tail -n 25 "$log" >&2
    FAILED+=("$name")
    if [[ $KEEP_GOING == 1 ]]; then return 0; fi
    exit 1
  fi
  echo "| $name | ok | $((SECONDS - t0)) |" >> "$SUMMARY"
}

to_file() {  # to_file FILE COMMAND...: the command's stdout into FILE (its stderr to the step log)
  local file="$1"; shift
  "$@" > "$file"
}

check_bench_json() {  # FILE N_ROWS BATCH PRECISION DEVICE: records parse and say what was asked
  "$PY" - "$@" <<'EOF'
import json, math, sys
path, rows, batch, precision, device = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), *sys.argv[4:]
recs = json.load(open(path))
thr = [r for r in recs if r["metric"] == "throughput"]
assert len(thr) == rows, f"{path}: {len(thr)} throughput records, expected {rows}"
for r in recs:
    p = r["protocol"]
    assert math.isfinite(r["value"]) and r["value"] > 0, r
    assert (p["batch_size"], p["precision"], p["device"]) == (batch, precision, device), p
for r in thr:
    print(f"{r['id']}: {r['value']:.3g} img/s ({r['protocol']['device_name']})")
EOF
}

check_sweep_json() {  # FILE N_ROWS N_SIZES DEVICE: one record per (row, size, metric), exponents
  "$PY" - "$@" <<'EOF'
import json, math, sys
from vzoo.core.registry import load_registry
from vzoo.core.sweep import build_sweeps, fit_cells
path, rows, sizes, device = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
recs = json.load(open(path))
assert len(recs) == 3 * rows * sizes, f"{path}: {len(recs)} records, expected {3 * rows * sizes}"
for r in recs:
    assert math.isfinite(r["value"]) and r["value"] >= 0 and r["protocol"]["device"] == device, r
    assert r["protocol"]["batch_size"] == 1, r["protocol"]
reg = load_registry()
(sweep,) = build_sweeps([reg.get(i) for i in dict.fromkeys(r["id"] for r in recs)], recs)
assert len(sweep.curves) == rows, [c.row_id for c in sweep.curves]
for curve in sweep.curves:
    print(" | ".join(fit_cells(curve)))
EOF
}

preflight() {
  "$PY" - "$DRY" <<'EOF'
import sys
import torch
dry = sys.argv[1] == "1"
print("torch", torch.__version__, "cuda", torch.version.cuda)
if not dry:
    assert torch.cuda.is_available(), "CUDA is not available: run with --dry-run on a CPU machine"
    print("device", torch.cuda.get_device_name(0))
try:
    import triton
    print("triton", triton.__version__)
except ImportError:
    sys.exit("triton is not installed: pip install triton (the scan's GPU kernel)")
EOF
  if [[ $DRY != 1 ]]; then nvidia-smi; fi
}

mmcv_ops_usable() {  # mmcv's compiled ops load and run on the device the check uses
  "$PY" - "$DEVICE" <<'EOF'
import sys
import torch
try:
    from mmcv.ops import RoIAlign  # compiled ops: mmdet's models import them
except Exception as e:  # ImportError, or the extension's own load error
    sys.exit(f"mmcv's compiled ops do not load: {type(e).__name__}: {str(e)[:200]}")
feat = torch.rand(1, 4, 8, 8, device=sys.argv[1])
rois = torch.tensor([[0.0, 1.0, 1.0, 6.0, 6.0]], device=sys.argv[1])
try:
    out = RoIAlign((2, 2), 1.0, 0)(feat, rois)
except Exception as e:
    sys.exit(f"mmcv's RoIAlign does not run on {sys.argv[1]}: {type(e).__name__}: {str(e)[:200]}")
print("mmcv ops load and run on", sys.argv[1], tuple(out.shape))
EOF
}

NOT_RUN=() FAILED=()
not_run() {  # not_run NAME WHY: record a step this machine cannot run
  echo "| $1 | NOT RUN: $2 | 0 |" >> "$SUMMARY"
  echo "gpu_check: NOT RUN $1: $2" >&2
  NOT_RUN+=("$1")
}

T_CLASSIFIERS=(mlla-t spatial-mamba-t msvmamba-tiny sparx-mamba-t)
SWEEP_BASELINES=(mmdet:mask-rcnn_swin-t-p4-w7_fpn_1x_coco mmdet:mask-rcnn_r50_fpn_1x_coco)
DETECTOR=mlla-t-1x
EVAL_ROW=msvmamba-micro-1x
if [[ $DRY == 1 ]]; then
  export TRITON_INTERPRET=1
  DEVICE=cpu BATCH=1 PRECISION_AMP=amp-bf16 GPUS=0
  SCAN_ARGS=(--device cpu --tiny --quick)
  LOOP=(--warmup 0 --iters 1)  # 224² (MLLA's classifier takes no other size)
  DET_LOOP=(--input 256x256 --warmup 0 --iters 1)
  SWEEP=64,96 SWEEP_LOOP=(--warmup 0 --iters 1)
else
  DEVICE=cuda BATCH=128 PRECISION_AMP=amp-fp16 GPUS=1
  SCAN_ARGS=(--quick)
  LOOP=()
  DET_LOOP=()
  SWEEP=224,384,512,768,1024 SWEEP_LOOP=()  # backbones at bs 1: 50 + 30 passes per size
fi

step preflight preflight
MMCV_OPS=1 MMCV_WHY=""
if ! mmcv_ops_usable > "$OUT_DIR/mmcv-ops.log" 2>&1; then
  MMCV_OPS=0
  MMCV_WHY="$(tail -n 1 "$OUT_DIR/mmcv-ops.log"); build mmcv==2.1.0 from source with CUDA"
fi
step scan "$PY" "$REPO/benchmarks/scan_gpu.py" "${SCAN_ARGS[@]}" --out "$OUT_DIR/scan_gpu.md"
step bench-fp32 to_file "$OUT_DIR/bench_fp32.json" vzoo bench "${T_CLASSIFIERS[@]}" \
  --device "$DEVICE" --batch-size "$BATCH" "${LOOP[@]}" --format json
step bench_fp32-check check_bench_json "$OUT_DIR/bench_fp32.json" 4 "$BATCH" fp32 "$DEVICE"
step bench-amp to_file "$OUT_DIR/bench_amp.json" vzoo bench "${T_CLASSIFIERS[@]}" \
  --device "$DEVICE" --batch-size "$BATCH" "${LOOP[@]}" --amp --format json
step bench_amp-check check_bench_json "$OUT_DIR/bench_amp.json" 4 "$BATCH" "$PRECISION_AMP" \
  "$DEVICE"
if [[ $MMCV_OPS == 1 ]]; then
  step bench-detector to_file "$OUT_DIR/bench_detector.json" vzoo bench "$DETECTOR" \
    --device "$DEVICE" "${DET_LOOP[@]}" --format json
  step bench_detector-check check_bench_json "$OUT_DIR/bench_detector.json" 1 1 fp32 "$DEVICE"
  SWEEP_ROWS=("${T_CLASSIFIERS[@]}" "${SWEEP_BASELINES[@]}")
else
  not_run bench-detector "$MMCV_WHY"
  not_run sweep-baselines "${SWEEP_BASELINES[*]}: $MMCV_WHY"
  SWEEP_ROWS=("${T_CLASSIFIERS[@]}")
fi
# --batch-size 1: without it a CUDA bench takes the classifiers' bs 128, and 1024² at bs 128
# alone takes ~90 s a model (seen on an H200: the step outran a 7-minute lease).
step bench-sweep to_file "$OUT_DIR/bench_sweep.json" vzoo bench "${SWEEP_ROWS[@]}" \
  --part backbone --device "$DEVICE" --batch-size 1 --sweep "$SWEEP" "${SWEEP_LOOP[@]}" \
  --format json
step bench_sweep-check check_sweep_json "$OUT_DIR/bench_sweep.json" "${#SWEEP_ROWS[@]}" \
  "$(tr , '\n' <<< "$SWEEP" | wc -l)" "$DEVICE"
step sweep-report vzoo compare "${SWEEP_ROWS[@]}" --plot "$OUT_DIR/figures" --report html \
  --out "$OUT_DIR/sweep.html"
COMPARED=("${T_CLASSIFIERS[@]}")
if [[ $MMCV_OPS == 1 ]]; then
  step synth-coco vzoo data synth-coco "$WORK/coco" --images 4
  step eval vzoo eval "$EVAL_ROW" --data-root "$WORK/coco" --random-init --gpus "$GPUS" \
    --work-dir "$WORK/eval" --workers 0 --force
  step eval-check "$PY" -c "
from vzoo.core.results import ResultStore
rec = {r.metric: r for r in ResultStore().query('$EVAL_ROW')}
assert 'box_ap' in rec and 'mask_ap' in rec, sorted(rec)
print({m: r.value for m, r in rec.items()}, rec['box_ap'].env.get('device'))
"
  COMPARED+=("$DETECTOR" "$EVAL_ROW")
else
  not_run eval "$EVAL_ROW: $MMCV_WHY"
fi
step compare vzoo compare "${COMPARED[@]}" --report markdown --out "$OUT_DIR/compare.md"

{
  echo
  echo "total: $((SECONDS - STARTED)) s"
  echo
  echo "## bench (throughput)"
  echo
  for f in bench_fp32 bench_amp bench_detector bench_sweep; do
    [[ -f "$OUT_DIR/$f-check.log" ]] || continue
    echo "### $f"
    echo
    tail -n +1 "$OUT_DIR/$f-check.log" | sed 's/^/- /'
    echo
  done
} >> "$SUMMARY"
if (( ${#FAILED[@]} )); then
  echo "gpu_check: ${#FAILED[@]} step(s) FAILED (${FAILED[*]}); summary: $SUMMARY" >&2
  exit 1
fi
if (( ${#NOT_RUN[@]} )); then
  echo "gpu_check: ${#NOT_RUN[@]} step(s) NOT RUN (${NOT_RUN[*]}): $MMCV_WHY; summary: $SUMMARY" >&2
  exit 1
fi
echo "gpu_check: all steps passed in $((SECONDS - STARTED)) s; summary: $SUMMARY" >&2
