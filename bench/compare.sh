#!/usr/bin/env bash
# The comparison of docs/RESULTS.md: SFT only, GRPO, Dr.GRPO, RIL with one teacher (terse) and RIL with two teachers
# (terse and grouper) on the built-in suite, 3 seeds each, the same budget: every arm starts from the same SFT student
# of its seed and gets STEPS steps of 8 questions (the RL arms: G = 4 student samples per question; SFT only: as many
# gold solutions as the RL arms see questions × G). Evaluation: greedy accuracy on val and test_ood every STEPS/4 steps.
#   bash bench/compare.sh [OUT]          (OUT defaults to runs/compare; STEPS and SEEDS may be set in the environment)
set -euo pipefail
OUT=${1:-runs/compare}
STEPS=${STEPS:-100}
SEEDS=${SEEDS:-"1 2 3"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
dotnet build -c Release "$ROOT/src/Ril.Cli" -v q -nologo > /dev/null
ril() { dotnet "$ROOT/src/Ril.Cli/bin/Release/net10.0/Ril.Cli.dll" "$@"; }

mkdir -p "$OUT"
DATA=$OUT/data
[ -f "$DATA/train.jsonl" ] || ril data synth --out "$DATA" --seed 1 --train 512 --val 128 --test 128 --image-size 32
[ -f "$DATA/teachers.jsonl" ] || ril teachers synth --data "$DATA" --out "$DATA/teachers.jsonl" --teachers terse,grouper -n 4 --seed 1

# Everything but the algorithm is the same in every arm: configs/ril_multi.yaml with these overrides.
common() {  # seed, student, name, group
  echo --set "model.path=$2" --set "data.train=$DATA/train.jsonl" --set "data.val=$DATA/val.jsonl" --set "data.test=$DATA/test_ood.jsonl" \
       --set "ril.teacher_cache=$DATA/teachers.jsonl" --set "trainer.seed=$1" --set "trainer.steps=$STEPS" \
       --set "run.out=$OUT/runs" --set "run.name=$3" --set "run.group=$4" --set "eval.every=$((STEPS / 4))" --set "checkpoint.every=$STEPS"
}

for SEED in $SEEDS; do
  STUDENT=$OUT/models/sft-s$SEED
  [ -d "$STUDENT" ] || ril sft --init tiny --data "$DATA/train.jsonl" --out "$STUDENT" --steps 100 --batch-size 8 --lr 3e-3 --seed "$SEED"
  for ARM in single multi; do
    TEACHERS=$([ $ARM = single ] && echo terse || echo terse,grouper)
    DISC=$OUT/models/disc-$ARM-s$SEED
    [ -d "$DISC" ] || ril disc pretrain --config "$ROOT/configs/ril_multi.yaml" $(common "$SEED" "$STUDENT" x x) --set "ril.teachers=$TEACHERS" --out "$DISC"
    [ -f "$OUT/runs/ril_$ARM-s$SEED/model/model.safetensors" ] || \
      ril train --config "$ROOT/configs/ril_multi.yaml" $(common "$SEED" "$STUDENT" "ril_$ARM-s$SEED" "ril_$ARM") \
        --set "ril.teachers=$TEACHERS" --set "ril.discriminator_init=$DISC"
  done
  for ALGO in dr_grpo grpo; do
    [ -f "$OUT/runs/$ALGO-s$SEED/model/model.safetensors" ] || \
      ril train --config "$ROOT/configs/ril_multi.yaml" $(common "$SEED" "$STUDENT" "$ALGO-s$SEED" "$ALGO") \
        --set "trainer.algo=$ALGO" --set trainer.mini_batch_size=32
  done
  # SFT only: the same number of further steps on gold solutions, 8 questions × G = 32 examples each.
  SFT=$OUT/models/sft_more-s$SEED
  [ -d "$SFT" ] || ril sft --model "$STUDENT" --data "$DATA/train.jsonl" --out "$SFT" --steps "$STEPS" --batch-size 32 --lr 1e-4 --seed "$SEED"
  EVAL=$OUT/runs/sft_only-s$SEED
  if [ ! -f "$EVAL/eval/summary.jsonl" ]; then
    mkdir -p "$EVAL"
    echo "{\"run\": {\"name\": \"sft_only-s$SEED\", \"group\": \"sft_only\"}, \"trainer\": {\"seed\": $SEED}}" > "$EVAL/config.json"
    for SPLIT in val test_ood; do
      ril eval --model "$SFT" --dataset "$DATA/$SPLIT.jsonl" --split "${SPLIT%_ood}" --settings 0.01:0.001:1 --max-new-tokens 64 --out "$EVAL/eval"
    done
  fi
done
ril report "$OUT"/runs/* --out "$OUT/report.html" --markdown --title "SFT only, GRPO, Dr.GRPO, RIL (1 teacher), RIL (2 teachers): 3 seeds"
# The picture in docs/RESULTS.md (the top of the report: accuracy, MAYE's table, rewards), where Chromium is installed.
if command -v chromium > /dev/null; then
  PROFILE=$(mktemp -d)
  chromium --headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars --user-data-dir="$PROFILE" \
    --window-size=1400,1480 --screenshot="$OUT/report.png" "file://$(cd "$OUT" && pwd)/report.html" 2> /dev/null
  rm -rf "$PROFILE"
fi
