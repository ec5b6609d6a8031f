#!/usr/bin/env bash
# docs/RESULTS.md §7: a student that perceives (SFT long enough to beat the blind question prior), then what RL does to
# it. From one SFT student (1500 steps of 16 gold solutions on 5,000 questions), the same budget of STEPS steps of 16
# questions for: Dr.GRPO (G = 8), RIL with the terse teacher (8 student + 8 teacher responses), RIL with the teacher out
# of the group (the similarity reward alone), RIL whose student responses are centred on their own mean
# (ril.student_baseline: students), and more SFT on as many gold solutions as the RL arms sample.
# Evaluation: MAYE's three settings on 300 val and 300 test_ood questions every STEPS/3 steps.
#   bash bench/perceiving_student.sh [OUT]      (OUT defaults to runs/perceiving; STEPS=300: about 50 min on two cores)
set -euo pipefail
OUT=${1:-runs/perceiving}
STEPS=${STEPS:-300}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
dotnet build -c Release "$ROOT/src/Ril.Cli" -v q -nologo > /dev/null
ril() { dotnet "$ROOT/src/Ril.Cli/bin/Release/net10.0/Ril.Cli.dll" "$@"; }

mkdir -p "$OUT"
DATA=$OUT/data
[ -f "$DATA/train.jsonl" ] || ril data synth --out "$DATA" --seed 1 --train 5000 --val 300 --test 300 --image-size 32
[ -f "$DATA/teachers.jsonl" ] || ril teachers synth --data "$DATA" --out "$DATA/teachers.jsonl" --teachers terse -n 4 --seed 1
STUDENT=$OUT/models/sft
[ -d "$STUDENT" ] || ril sft --init tiny --data "$DATA/train.jsonl" --out "$STUDENT" --steps 1500 --batch-size 16 --lr 3e-3 --log-every 250
for SPLIT in val test_ood; do  # the blind baselines beside the SFT student's greedy accuracy
  ril eval --model "$STUDENT" --dataset "$DATA/$SPLIT.jsonl" --settings 0.01:0.001:1 --max-new-tokens 64 --prior "$DATA/train.jsonl" --out "$OUT/sft-eval"
done

COMMON=(--set "model.path=$STUDENT" --set "data.train=$DATA/train.jsonl" --set "data.val=$DATA/val.jsonl"
  --set "data.test=$DATA/test_ood.jsonl" --set "ril.teacher_cache=$DATA/teachers.jsonl"
  --set "trainer.steps=$STEPS" --set trainer.questions_per_step=16 --set rollout.group_size=8 --set "run.out=$OUT/runs"
  --set eval.settings=maye --set "eval.every=$((STEPS / 3))" --set "checkpoint.every=$STEPS")
DISC=$OUT/models/discriminator
[ -d "$DISC" ] || ril disc pretrain --config "$ROOT/configs/ril_single.yaml" "${COMMON[@]}" --out "$DISC"
arm() { [ -f "$OUT/runs/$1/model/model.safetensors" ] || ril train --config "$ROOT/configs/ril_single.yaml" "${COMMON[@]}" --name "$1" "${@:2}"; }
arm dr_grpo --set trainer.algo=dr_grpo --set trainer.mini_batch_size=128
arm ril --set "ril.discriminator_init=$DISC" --set trainer.mini_batch_size=256
arm ril_teacher_out --set "ril.discriminator_init=$DISC" --set ril.teachers_in_group=false --set trainer.mini_batch_size=128
arm ril_student_baseline --set "ril.discriminator_init=$DISC" --set ril.student_baseline=students --set trainer.mini_batch_size=256

# More SFT: STEPS steps of 128 gold solutions (16 questions × G), lr 1e-4.
SFT=$OUT/models/sft_more
[ -d "$SFT" ] || ril sft --model "$STUDENT" --data "$DATA/train.jsonl" --out "$SFT" --steps "$STEPS" --batch-size 128 --lr 1e-4 --seed 2 --log-every 100
EVAL=$OUT/runs/sft_more
if [ ! -f "$EVAL/eval/summary.jsonl" ]; then
  mkdir -p "$EVAL"
  echo '{"run": {"name": "sft_more", "group": "sft_more"}, "trainer": {"seed": 1}}' > "$EVAL/config.json"
  for SPLIT in val test_ood; do
    ril eval --model "$SFT" --dataset "$DATA/$SPLIT.jsonl" --split "${SPLIT%_ood}" --settings maye --max-new-tokens 64 --out "$EVAL/eval"
  done
fi
ril report "$OUT"/runs/* --out "$OUT/report.html" --markdown --title "A student that perceives: Dr.GRPO, RIL, RIL with the teacher out of the group, more SFT"
