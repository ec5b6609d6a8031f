#!/usr/bin/env python3
"""Where a dotnet-trace profile spends its time: shares of the frames on the stack, from the speedscope file that
`dotnet-trace collect --format speedscope` writes (evented profiles: open/close events per frame).

  python3 bench/profile_top.py TRACE.speedscope.json [--focus FRAME] [--calls FRAME --without FRAME2] [--top N]

--focus keeps the time whose stack holds a frame containing FRAME (e.g. Generator.Generate: a rollout).
--calls splits the time into the calls of the outermost frame containing FRAME and keeps the calls in which no frame
containing FRAME2 ran (e.g. --calls Qwen35Model.Hidden --without GatedDeltaRule: the decoding steps, not the prefill).
Prints the inclusive share of each frame (time with it anywhere on the stack) and the exclusive share of the top frames.
"""
import argparse, collections, json

parser = argparse.ArgumentParser()
parser.add_argument("trace")
parser.add_argument("--focus")
parser.add_argument("--calls")
parser.add_argument("--without")
parser.add_argument("--top", type=int, default=40)
args = parser.parse_args()

data = json.load(open(args.trace))
names = [f["name"] for f in data["shared"]["frames"]]
inclusive, exclusive = collections.Counter(), collections.Counter()
total, calls_kept = 0.0, 0


def add(counts_in, counts_ex, stack, dt):
    for n in set(stack):
        counts_in[n] += dt
    # The innermost method: the pseudo-frames dotnet-trace puts under it (CPU_TIME, UNMANAGED_CODE_TIME) are skipped.
    leaf = next((f for f in reversed(stack) if not f.isupper()), stack[-1])
    counts_ex[leaf] += dt


for profile in data["profiles"]:
    stack, last = [], None
    call = None          # (depth, inclusive, exclusive, time, excluded?) of the current --calls frame
    for event in profile["events"]:
        at = event["at"]
        if last is not None and stack:
            frames = [names[i] for i in stack]
            dt = at - last
            if args.calls:
                if call is not None:
                    add(call[1], call[2], frames, dt)
                    call[3][0] += dt
                    if args.without and any(args.without in f for f in frames):
                        call[4][0] = True
            elif args.focus is None or any(args.focus in f for f in frames):
                add(inclusive, exclusive, frames, dt)
                total += dt
        last = at
        if event["type"] == "O":
            stack.append(event["frame"])
            if args.calls and call is None and args.calls in names[event["frame"]]:
                call = (len(stack), collections.Counter(), collections.Counter(), [0.0], [False])
        else:
            if stack:
                stack.pop()
            if call is not None and len(stack) < call[0]:
                if not call[4][0]:
                    inclusive.update(call[1]); exclusive.update(call[2]); total += call[3][0]; calls_kept += 1
                call = None

if args.calls:
    print(f"{calls_kept} calls of {args.calls} kept")
print(f"total {total / 1000:.2f} s")
print("--- inclusive")
for name, t in inclusive.most_common(args.top):
    print(f"{100 * t / max(total, 1e-9):6.1f}%  {name[:150]}")
print("--- exclusive")
for name, t in exclusive.most_common(25):
    print(f"{100 * t / max(total, 1e-9):6.1f}%  {name[:150]}")
