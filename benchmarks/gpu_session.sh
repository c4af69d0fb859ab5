#!/usr/bin/env bash
# One GPU session's worth of ISER measurements (issues #3 and #4), in the order that matters when
# device time is short. Every phase has its own time limit, so one slow or broken phase cannot take
# the others' results with it; results accumulate under benchmarks/results/ (and are packed into
# $OUT/results.tar.gz when $OUT is set, as on the workplace's GPU machine).
#
#   bash benchmarks/gpu_session.sh                 # 520 s budget, ../shared (or $DDIKG_SHARED)
#   BUDGET=3600 SEEDS=1,2,3 bash benchmarks/gpu_session.sh
#   TABLE=cmeie PHASES=table BUDGET=540 bash benchmarks/gpu_session.sh   # the CMeIE table only
#
# Phases: (1) training throughput at batch 2 and 32, bf16 and fp32, one whole epoch each; (2) bf16
# inference curve, cost growth and per-variant inference; (3) a reproduction table ($TABLE: conll04,
# ISER and every Table 6 ablation plus ISER_GRU; or cmeie, ISER against -fusion and SEA->CLS) trained
# concurrently on the one GPU for as many epochs as the remaining budget allows (a shortened protocol,
# recorded under its own name, never the paper's); (4) the inference curve again with the trained
# CoNLL04 ISER checkpoint. The machine needs torch with CUDA,
# transformers, safetensors, tokenizers, numpy, tqdm and matplotlib; pydantic is installed from
# $WHEELS when given (a GPU machine without package access).
set -u
START=$(date +%s)
BUDGET=${BUDGET:-520}
SEEDS=${SEEDS:-1}
RES=${RES:-benchmarks/results}
LOGS=${LOGS:-$RES/logs}
MODELS=${MODELS:-.models}  # the trained ISER checkpoint of (3)
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
QUICK=${QUICK:+--quick}  # QUICK=1: tiny models, a check of this script itself (any device)
# optional phases: "gputest" (pytest -m gpu; needs pytest), "profile" (torch.profiler tables and a sync audit of
# training steps), "ops" (operators per batch-2 step, benchmarks/step_ops.py), "compile" (batch-2 training with
# torch.compile), "ab" (AB_BASELINE against this checkout, alternating on this machine)
PHASES=${PHASES:-train,infer,table,trained}
TABLE=${TABLE:-conll04}
if [ "$TABLE" = cmeie ]; then
  VARIANTS=${VARIANTS:-iser no_fusion sea_cls}
  SCALE=5  # an epoch of CMeIE train (3,085 sentences, ~84 characters) against one of CoNLL04 (922, ~30 subwords)
else
  VARIANTS=${VARIANTS:-iser no_fusion sea_cls lc_att lc_bert lc_cls gc_bert gc iser_gru}
  SCALE=1
fi
want() { [[ ",$PHASES," == *",$1,"* ]]; }
mkdir -p "$LOGS"
export PYTHONUNBUFFERED=1 TRANSFORMERS_OFFLINE=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

if [ -n "${WHEELS:-}" ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/ddikg-site \
      "$WHEELS"/*.whl || exit 1
  export PYTHONPATH=/tmp/ddikg-site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-}

left() { echo $(( BUDGET - ($(date +%s) - START) )); }
phase() {  # phase NAME LIMIT_S CMD...: run with a limit, log to $LOGS/NAME.log, never abort the script
  local name=$1 limit=$2; shift 2
  if [ "$limit" -le 5 ]; then echo "== $name: skipped (no time left)"; return; fi
  echo "== $name (limit ${limit}s, $(left)s of the budget left)"
  timeout --signal=INT --kill-after=10 "$limit" "$@" > "$LOGS/$name.log" 2>&1
  echo "== $name: exit $? after $(( $(date +%s) - START ))s"; tail -n 25 "$LOGS/$name.log"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
$PY -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), \
'transformers', transformers.__version__)"

# (0) optional: the CUDA-only tests (sync count, inductor-compiled loss), and where a step's time goes
want gputest && phase gputest 150 $PY -m pytest -q -m gpu -p no:cacheprovider tests/iser_model/test_cuda.py
want profile && phase profile 90 $PY -m benchmarks.profile_step --device $DEVICE ${PROFILE_ARGS:---batch-sizes 2,32 --steps 20}
# operators per batch-2 training step, float32 and bf16 autocast (exact counts: a launch-bound step's unit)
want ops && for p in fp32 bf16; do
  phase ops-$p 60 $PY -m benchmarks.step_ops --device $DEVICE --precision $p ${QUICK:+--encoder tiny} \
      --out "$RES/step_ops-cuda-$p.json"
done

# optional: an A/B of training speed against an older commit on this one machine (benchmarks/ab.py; the tree
# from `python -m benchmarks.ab prepare COMMIT`, carried under .device/)
want ab && phase ab $(( $(left) < ${AB_LIMIT:-240} ? $(left) : ${AB_LIMIT:-240} )) \
  $PY -m benchmarks.ab run "${AB_BASELINE:?AB_BASELINE: a tree from benchmarks.ab prepare}" --runs ${AB_RUNS:-2} \
  --out "$RES/ab-${AB_NAME:-train-$DEVICE}" -- --device $DEVICE $QUICK \
  ${AB_ARGS:---sections train --train-batch-sizes 2 --train-precision fp32}

# (1) training throughput, a whole epoch at each batch size, bf16 and fp32
want train && phase train $(( $(left) < 150 ? $(left) : 150 )) \
  $PY -m benchmarks.iser_speed --device $DEVICE $QUICK --sections train ${TRAIN_ARGS:-} \
  --out "$RES/iser_speed-cuda-train.json"

# (1b) optional: the same at batch 2 with IserConfig.compile (torch.compile; the compile is timed apart)
want compile && phase compile $(( $(left) < 240 ? $(left) : 240 )) \
  $PY -m benchmarks.iser_speed --device $DEVICE $QUICK --sections train --train-batch-sizes 2 \
  --train-precision ${COMPILE_PRECISION:-fp32} --train-compile on --out "$RES/iser_speed-cuda-train-compile.json"

# (2) inference curve, growth, variants (fresh model: untrained heads, a worst case for relations)
want infer && phase infer $(( $(left) < 110 ? $(left) : 110 )) \
  $PY -m benchmarks.iser_speed --device $DEVICE $QUICK --sections infer,growth,variants --out "$RES/iser_speed-cuda.json"

# (3) a reproduction table, all variants at once on the one GPU, epochs fitted to the time left
REMAIN=$(( $(left) - 60 ))  # keep a minute for (4) and packing
NVAR=$(echo $VARIANTS | wc -w)
NSEED=$(echo "$SEEDS" | tr ',' ' ' | wc -w)  # each process runs its variant's seeds one after the other
RUN_REMAIN=$(( REMAIN / NSEED ))
read -r EPOCHS MAXSEC <<< "$($PY - "$RES/iser_speed-cuda-train.json" "$RUN_REMAIN" "$NVAR" "$SCALE" <<'EOF'
import json, sys
path, remain, nvar, scale = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
try:
    spe = min(r["seconds_per_epoch"] for r in json.load(open(path))["training"] if r["batch_size"] == 2)
except Exception:
    spe = 40.0  # no training figure: assume a slow epoch
spe *= scale
# Processes sharing the GPU slow each other little: each keeps it busy ~17 % at batch 2. Measured on H200s:
# 3 at once ran 13.6-19.1 s per epoch against 17.2 alone, 9 at once ~40 s against 19. The CoNLL04 dev
# evaluation plus start-up took 1-2 s per epoch.
slow, evaluation = 1 + (nvar - 1) / 8, 3.0 * scale
per = spe * slow + evaluation
epochs = max(1, min(20, int((remain - 20) // per)))
print(epochs, max(30, int(remain - 20 - per)))
EOF
)"
EPOCHS=${EPOCHS_OVERRIDE:-$EPOCHS}
MAXSEC=${MAXSEC_OVERRIDE:-$MAXSEC}
# each process is killed at REMAIN: its start-up and the evaluation after the last step must fit after MAXSEC
# (an override of 190 s in a 200 s REMAIN lost two CMeIE variants that way)
if want table && [ "$MAXSEC" -gt $(( RUN_REMAIN - 60 )) ]; then
  MAXSEC=$(( RUN_REMAIN - 60 > 30 ? RUN_REMAIN - 60 : 30 ))
  echo "training time capped at ${MAXSEC}s per run (REMAIN ${REMAIN}s for $NSEED seed(s))"
fi
want table && echo "table $TABLE: $VARIANTS: $EPOCHS epochs, training stops after ${MAXSEC}s"
pids=()
want table && for v in $VARIANTS; do
  keep=(); [ "$v" = iser ] && [ "$TABLE" = conll04 ] && keep=(--keep-models "$MODELS")
  timeout --signal=INT --kill-after=10 "$REMAIN" $PY -m benchmarks.reproduce --table "$TABLE" --variants "$v" \
      --seed-list "$SEEDS" --epochs "$EPOCHS" --max-seconds "$MAXSEC" --device $DEVICE $QUICK "${keep[@]}" --threads 1 \
      --results "$RES/reproduce" ${TABLE_ARGS:-} \
      > "$LOGS/table-$TABLE-$v.log" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
want table && { echo "== table done after $(( $(date +%s) - START ))s"; tail -n 3 "$LOGS"/table-"$TABLE"-*.log; }

# (4) inference with the trained checkpoint (heads that reject most spans, as in use)
CKPT=$(ls -d "$MODELS"/conll04/iser/seed*/ 2>/dev/null | head -1)
[ -n "$CKPT" ] && [ ! -f "$CKPT/config.json" ] && CKPT=""  # killed before its first checkpoint
if want trained && [ -n "$CKPT" ]; then
  phase infer-trained $(( $(left) - 10 )) $PY -m benchmarks.iser_speed --device $DEVICE $QUICK --sections infer \
      --model "$CKPT" --repeat 2 --out "$RES/iser_speed-cuda-trained.json"
fi

if [ -n "${OUT:-}" ]; then
  tar czf "$OUT/results.tar.gz" "$RES" && ls -la "$OUT"
fi
echo "done after $(( $(date +%s) - START ))s"
