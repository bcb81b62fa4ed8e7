#!/usr/bin/env bash
# The EcoNAS consistency grid around c4r4s0e* and the zero-cost paper's anchor, on a GPU machine, in one short job.
#
# Everything runs at 8x8 (the r4 settings): the data travel as one 40 MB file, CIFAR-10 (JPEG-decoded) resized in
# advance, whose trainings equal those from the full files and share their store key. r2 and r1 settings need the
# full images (184 MB) and are not run here. Each step is one resumable `archrank consistency` run cut at the time
# left (BUDGET seconds for all steps), so a cut loses at most the stack in progress.
#
# Here, once (the folder is ignored locally, and carried):
#   echo /.device/ >> .git/info/exclude; mkdir -p .device/data/nb201
#   archrank econas-data --data cifar10:/work/econas_data --side 8 --out .device/cifar10_8x8.npz
#   cp ../shared/data/nb201/nb201_cifar10.csv .device/data/nb201/
# On the device machine (run, carry [".device"]):   bash benchmarks/econas_gpu_study.sh
# Back here:  archrank merge <files_at>/econas_gpu.sqlite --store econas.sqlite
#             archrank consistency --device cuda --sample 128 --settings ... --store econas.sqlite --out DIR
# Smoke test on this CPU (three cells, one epoch):  DEVICE=cpu SMOKE=1 OUT=/tmp/smoke bash benchmarks/econas_gpu_study.sh
set -uo pipefail
OUT=${OUT:-econas_gpu_out}
CARRY=${CARRY:-.device}
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
SAMPLE=${SAMPLE:-128}
STACK=${STACK:-128}
BUDGET=${BUDGET:-450}
THREADS=${THREADS:-1}  # torch threads: more than one per process thrashes a shared CPU
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 ARCHRANK_DATA="${ARCHRANK_DATA:-$CARRY/data}"
STORE="$OUT/econas_gpu.sqlite"
DATA="$CARRY/cifar10_8x8.npz"
start=$(date +%s)

step() {  # step NAME SAMPLE SETTINGS [more consistency options]
  local name=$1 sample=$2 settings=$3 left t0 rc
  shift 3
  left=$((BUDGET - ($(date +%s) - start)))
  if [ "$left" -le 10 ]; then echo "step $name: skipped, budget spent"; return; fi
  t0=$(date +%s)
  timeout "$left" "$PY" -m archrank.cli consistency --sample "$sample" --settings "$settings" --data "$DATA" \
    --device "$DEVICE" --stack "$STACK" --store "$STORE" --threads "$THREADS" --quiet "$@" > "$OUT/$name.txt" 2>&1
  rc=$?
  echo "step $name ($settings, $sample cells $*): rc $rc, $(($(date +%s) - t0)) s"
  tail -n 12 "$OUT/$name.txt"
}

"$PY" -c "import torch; print('torch', torch.__version__, 'device', torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')"
if [ "${SMOKE:-0}" = 1 ]; then
  step smoke 3 c4r4s0e1
  step smoke_anchor 3 c4r4s0e1 --batch-size 2048 --schedule-epochs 2
else
  step anchor "$SAMPLE" c4r4s0e20 --batch-size 2048 --schedule-epochs 40
  step e10 "$SAMPLE" c4r4s0e10
  step epochs "$SAMPLE" c4r4s0e5,c4r4s0e20,c4r4s0e30
  step channels "$SAMPLE" c2r4s0e10,c8r4s0e10
  step samples "$SAMPLE" c4r4s1e10,c4r4s1e5
  step long "$SAMPLE" c4r4s0e60
  step anchor_more 1000 c4r4s0e20 --batch-size 2048 --schedule-epochs 40
fi
# One self-contained file to bring back: fold the write-ahead log into it.
"$PY" -c "import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute('PRAGMA wal_checkpoint(TRUNCATE)')" "$STORE"
echo "total $(($(date +%s) - start)) s; store $STORE"
