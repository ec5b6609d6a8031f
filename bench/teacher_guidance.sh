#!/usr/bin/env bash
# docs/RESULTS.md §8: which way of using teachers makes a student better (issue 18). From one SFT student that
# perceives, SEEDS RL seeds of every arm with the same budget of student rollouts (STEPS steps of Q questions × G):
# SFT only; GRPO; Dr.GRPO; RIL as published with one teacher (verifier) and with two (verifier, grouper); RIL whose
# teacher tokens are shaped (LUFFY), moved into a φ-weighted NLL (CHORD), or given only to groups where every student
# answer fails (AMPO's rule, with the shaping); RIL with the teacher out of the gradient (the similarity reward alone);
# and ZPPO (the teacher in BCQ/NCQ prompts, a replay buffer; Q − 2 fresh questions a step so that it samples no more).
# Greedy accuracy on val and test_ood every EVAL_EVERY steps, and `ril report` over all runs (curves, the table of
# MAYE's mean/max/last per arm over seeds, entropy and length dynamics).
#   bash bench/teacher_guidance.sh [OUT]    (OUT defaults to runs/teacher_guidance)
#   environment: SEEDS (3), STEPS (40), Q (8), G (8), L (128: the verifier teacher's responses run to ~90 tokens, and a
#   teacher response cut at L loses its answer), PRESET (tiny), SFT_STEPS (6000), ARMS (all)
set -euo pipefail
OUT=${1:-runs/teacher_guidance}
SEEDS=${SEEDS:-3}
STEPS=${STEPS:-40}
Q=${Q:-8}
G=${G:-8}
EVAL_EVERY=${EVAL_EVERY:-20}
L=${L:-128}
PRESET=${PRESET:-tiny}
SFT_STEPS=${SFT_STEPS:-6000}
ARMS=${ARMS:-sft grpo dr_grpo ril ril_two ril_shaped ril_chord ril_all_fail ril_teacher_out zppo}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
dotnet build -c Release "$ROOT/src/Ril.Cli" -v q -nologo > /dev/null
ril() { dotnet "$ROOT/src/Ril.Cli/bin/Release/net10.0/Ril.Cli.dll" "$@"; }
start=$(date +%s)

mkdir -p "$OUT"
DATA=$OUT/data
[ -f "$DATA/train.jsonl" ] || ril data synth --out "$DATA" --seed 1 --train 5000 --val 300 --test 300 --image-size 64
[ -f "$DATA/teachers.jsonl" ] || ril teachers synth --data "$DATA" --out "$DATA/teachers.jsonl" --teachers verifier,grouper -n 4 --seed 1
STUDENT=$OUT/models/sft
[ -d "$STUDENT" ] || ril sft --init "$PRESET" --data "$DATA/train.jsonl" --out "$STUDENT" --steps "$SFT_STEPS" --batch-size 16 --lr 3e-3 --pack --log-every 500
ril eval --model "$STUDENT" --dataset "$DATA/val.jsonl" --settings 0.01:0.001:1 --max-new-tokens 64 --prior "$DATA/train.jsonl" --out "$OUT/sft-eval" | tail -4

COMMON=(--set "model.path=$STUDENT" --set "data.train=$DATA/train.jsonl" --set "data.val=$DATA/val.jsonl"
  --set "data.test=$DATA/test_ood.jsonl" --set "trainer.steps=$STEPS" --set "trainer.questions_per_step=$Q"
  --set "rollout.group_size=$G" --set "rollout.max_response_tokens=$L" --set "run.out=$OUT/runs" --set eval.settings=0.01:0.001:1 --set "eval.every=$EVAL_EVERY"
  --set "checkpoint.every=$STEPS" --set "ril.teacher_cache=$DATA/teachers.jsonl" --set trainer.micro_batch_size=32)
ONE=(--set "ril.teachers=[verifier]" --set "ril.discriminator_init=$OUT/models/disc_one")
TWO=(--set "ril.teachers=[verifier,grouper]" --set "ril.discriminator_init=$OUT/models/disc_two")
[ -d "$OUT/models/disc_one" ] || ril disc pretrain --config "$ROOT/configs/ril_single.yaml" "${COMMON[@]}" --set "ril.teachers=[verifier]" --out "$OUT/models/disc_one"
[ -d "$OUT/models/disc_two" ] || ril disc pretrain --config "$ROOT/configs/ril_single.yaml" "${COMMON[@]}" --set "ril.teachers=[verifier,grouper]" --out "$OUT/models/disc_two"

# One run: NAME SEED then --set overrides. Its group (arm) is NAME; the run folder NAME-sSEED. Mini-batch = the whole step.
arm() {
  local name=$1 seed=$2; shift 2
  [ -f "$OUT/runs/$name-s$seed/model/model.safetensors" ] && return
  ril train --config "$ROOT/configs/ril_single.yaml" "${COMMON[@]}" --name "$name-s$seed" --set "run.group=$name" --set "trainer.seed=$seed" "$@" \
    | grep -E "^eval|^step $STEPS/" || true
}
for seed in $(seq 1 "$SEEDS"); do
  for a in $ARMS; do
    echo "== $a seed $seed ($(( ($(date +%s) - start) / 60 )) min)"
    case $a in
      sft) ;;   # the SFT student's row comes from its evaluation at step 0 of every run
      grpo) arm grpo "$seed" "${ONE[@]}" --set trainer.algo=grpo --set "trainer.mini_batch_size=$((Q * G))" ;;
      dr_grpo) arm dr_grpo "$seed" "${ONE[@]}" --set trainer.algo=dr_grpo --set "trainer.mini_batch_size=$((Q * G))" ;;
      ril) arm ril "$seed" "${ONE[@]}" --set "trainer.mini_batch_size=$((2 * Q * G))" ;;
      ril_two) arm ril_two "$seed" "${TWO[@]}" --set "trainer.mini_batch_size=$((2 * Q * G))" ;;
      ril_shaped) arm ril_shaped "$seed" "${ONE[@]}" --set ril.teacher_tokens=shaped --set "trainer.mini_batch_size=$((2 * Q * G))" ;;
      ril_chord) arm ril_chord "$seed" "${ONE[@]}" --set ril.teacher_tokens=chord --set "trainer.mini_batch_size=$((2 * Q * G))" ;;
      ril_all_fail) arm ril_all_fail "$seed" "${ONE[@]}" --set ril.teacher_tokens=shaped --set ril.teacher_when=all_fail --set "trainer.mini_batch_size=$((Q * G))" ;;
      ril_teacher_out) arm ril_teacher_out "$seed" "${ONE[@]}" --set ril.teacher_tokens=none --set "trainer.mini_batch_size=$((Q * G))" ;;
      zppo) arm zppo "$seed" "${ONE[@]}" --set ril.teacher_tokens=none --set ril.guidance=zppo --set "trainer.questions_per_step=$((Q - 2))" \
              --set zppo.hard_per_step=1 --set zppo.replay_per_step=2 --set "trainer.mini_batch_size=$((Q * G))" ;;
    esac
  done
done
echo "== all runs done in $(( ($(date +%s) - start) / 60 )) min"
ril report "$OUT"/runs/* --out "$OUT/report.html" --markdown --title "Teacher guidance from a student that perceives ($SEEDS seeds, $STEPS steps of $Q × $G)"
# The teacher columns of docs/RESULTS.md §8: per run, the per-step means of what entered the loss and of ZPPO's counters.
python3 - "$OUT/runs" <<'PY'
import json, os, sys
keys = ["ril/teacher_tokens_in_loss", "ril/teacher_token_weight", "ril/needy_group_share", "ril/answer_teacher",
        "zppo/bcq_prompts", "zppo/bcq_accuracy", "zppo/ncq_accuracy", "zppo/buffer_size", "zppo/graduated"]
for run in sorted(os.listdir(sys.argv[1])):
    rows = [json.loads(line) for line in open(os.path.join(sys.argv[1], run, "metrics.jsonl"))]
    means = {k: sum(v) / len(v) for k in keys if (v := [r[k] for r in rows if r.get(k) is not None])}
    print(run, "  ".join(f"{k.split('/')[1]} {v:.3g}" for k, v in means.items()))
PY
