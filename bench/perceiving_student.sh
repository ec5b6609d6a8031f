#!/usr/bin/env bash
# docs/RESULTS.md §7: a student that perceives (SFT long enough to beat the blind question prior), then what RL and
# RIL do to it. From one SFT student (1500 steps of 16 gold solutions on 5,000 questions), STEPS steps of 16 questions
# for each arm: Dr.GRPO (G = 8); RIL with the terse teacher (8 student + 8 teacher responses); the same with the
# student's responses centred on their own mean (ril.student_baseline: students); with the teacher out of the group
# (the similarity reward alone); and RIL with the grouper teacher, whose responses list the scene before answering.
# Greedy accuracy on 300 val and 300 test_ood questions every 50 steps; the SFT student's per-family accuracy beside
# the blind question prior.
#   bash bench/perceiving_student.sh [OUT]      (OUT defaults to runs/perceiving; STEPS=100: about 30 min on two cores)
set -euo pipefail
OUT=${1:-runs/perceiving}
STEPS=${STEPS:-100}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
dotnet build -c Release "$ROOT/src/Ril.Cli" -v q -nologo > /dev/null
ril() { dotnet "$ROOT/src/Ril.Cli/bin/Release/net10.0/Ril.Cli.dll" "$@"; }

mkdir -p "$OUT"
DATA=$OUT/data
[ -f "$DATA/train.jsonl" ] || ril data synth --out "$DATA" --seed 1 --train 5000 --val 300 --test 300 --image-size 32
[ -f "$DATA/teachers.jsonl" ] || ril teachers synth --data "$DATA" --out "$DATA/teachers.jsonl" --teachers terse -n 4 --seed 1
[ -f "$DATA/grouper.jsonl" ] || ril teachers synth --data "$DATA" --out "$DATA/grouper.jsonl" --teachers grouper -n 4 --seed 1
STUDENT=$OUT/models/sft
[ -d "$STUDENT" ] || ril sft --init tiny --data "$DATA/train.jsonl" --out "$STUDENT" --steps 1500 --batch-size 16 --lr 3e-3 --log-every 250
for SPLIT in val test_ood; do  # the blind baselines, overall and per family, beside the SFT student's greedy accuracy
  ril eval --model "$STUDENT" --dataset "$DATA/$SPLIT.jsonl" --settings 0.01:0.001:1 --max-new-tokens 64 \
    --prior "$DATA/train.jsonl" --by family --out "$OUT/sft-eval"
done

COMMON=(--set "model.path=$STUDENT" --set "data.train=$DATA/train.jsonl" --set "data.val=$DATA/val.jsonl"
  --set "data.test=$DATA/test_ood.jsonl" --set "trainer.steps=$STEPS" --set trainer.questions_per_step=16
  --set rollout.group_size=8 --set "run.out=$OUT/runs" --set eval.settings=0.01:0.001:1 --set eval.every=50
  --set "checkpoint.every=$STEPS")
TERSE=(--set "ril.teacher_cache=$DATA/teachers.jsonl" --set "ril.teachers=[terse]")
GROUPER=(--set "ril.teacher_cache=$DATA/grouper.jsonl" --set "ril.teachers=[grouper]")
[ -d "$OUT/models/discriminator" ] || ril disc pretrain --config "$ROOT/configs/ril_single.yaml" "${COMMON[@]}" "${TERSE[@]}" --out "$OUT/models/discriminator"
[ -d "$OUT/models/disc_grouper" ] || ril disc pretrain --config "$ROOT/configs/ril_single.yaml" "${COMMON[@]}" "${GROUPER[@]}" --out "$OUT/models/disc_grouper"
arm() { [ -f "$OUT/runs/$1/model/model.safetensors" ] || ril train --config "$ROOT/configs/ril_single.yaml" "${COMMON[@]}" --name "$1" "${@:2}"; }
arm dr_grpo "${TERSE[@]}" --set trainer.algo=dr_grpo --set trainer.mini_batch_size=128
arm ril "${TERSE[@]}" --set "ril.discriminator_init=$OUT/models/discriminator" --set trainer.mini_batch_size=256
arm ril_student_baseline "${TERSE[@]}" --set "ril.discriminator_init=$OUT/models/discriminator" --set ril.student_baseline=students --set trainer.mini_batch_size=256
arm ril_teacher_out "${TERSE[@]}" --set "ril.discriminator_init=$OUT/models/discriminator" --set ril.teacher_tokens=none --set trainer.mini_batch_size=128
arm ril_grouper "${GROUPER[@]}" --set "ril.discriminator_init=$OUT/models/disc_grouper" --set trainer.mini_batch_size=256
ril report "$OUT"/runs/* --out "$OUT/report.html" --markdown --title "A student that perceives: Dr.GRPO and RIL variants from one SFT student"
