#!/usr/bin/env bash
# The figures of docs/RESULTS.md §3 (why RIL collapses with the paper's sampling on a small student) and the
# strong-student note of §4. Runs the quickstart (its SFT student, discriminator and recipes), then from that student:
# RIL for 60 steps with the paper's sampling, with the full distribution, without the similarity reward, with the teachers
# out of the group; SFT on the teachers' responses alone; and a quickstart whose student had 600 SFT steps.
#   bash bench/ril_sampling.sh [OUT]          (OUT defaults to runs/ril_sampling; about 10 minutes on two cores)
set -euo pipefail
OUT=${1:-runs/ril_sampling}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
dotnet build -c Release "$ROOT/src/Ril.Cli" -v q -nologo > /dev/null
ril() { dotnet "$ROOT/src/Ril.Cli/bin/Release/net10.0/Ril.Cli.dll" "$@"; }

Q=$OUT/quickstart
[ -d "$Q/runs/ril" ] || ril quickstart --out "$Q"
PAPER=(--set rollout.top_p=0.95 --set rollout.top_k=50 --set rollout.repetition_penalty=1.05)
SIXTY=(--set trainer.steps=60 --set eval.every=30 --set run.out="$OUT/runs")
run() { [ -d "$OUT/runs/$1" ] || ril train --config "$Q/recipes/ril.yaml" --name "$1" "${SIXTY[@]}" "${@:2}"; }
run paper "${PAPER[@]}"
run full
run paper_no_similarity "${PAPER[@]}" --set ril.similarity_weight=0
run paper_teachers_out "${PAPER[@]}" --set ril.teacher_tokens=none
if [ ! -d "$OUT/sft_teachers" ]; then
  ril sft --model "$Q/models/sft" --teachers "$Q/data/teachers.jsonl" --data "$Q/data/train.jsonl" --steps 60 --batch-size 16 --lr 1e-4 --out "$OUT/sft_teachers"
  ril eval --model "$OUT/sft_teachers" --dataset "$Q/data/val.jsonl" --split val --settings 0.01:0.001:1 --max-new-tokens 64 --out "$OUT/sft_teachers-eval"
fi
[ -d "$OUT/strong/runs/ril" ] || ril quickstart --out "$OUT/strong" --sft-steps 600 --steps 40
[ -d "$OUT/strong/runs/ril_paper" ] || ril train --config "$OUT/strong/recipes/ril.yaml" --name ril_paper "${PAPER[@]}"
ril report "$OUT"/runs/* --out "$OUT/report.html" --markdown
