#!/usr/bin/env bash
# Benchmarks of rollouts in waves (issue 19) against `livebatch emulator` (a separate process,
# loopback only, --latency-ms 100..300): the table of BENCHMARKS.md `## waves`.
#
# Usage: scripts/bench/waves.sh [ROW...]   (default: every row)
#   gate      300 running tasks, SourceUrls changed with --restart-running
#             --waves 30,100,100% --bake 3s --max-unhealthy 10%, items 60–99 given an unreachable
#             source: exit 5 after wave 2, wave 1 on its new source and running, wave 2 back on
#             its old source and running, items 100–299 never called; the run's time against
#             its calls at the quota plus two bakes plus 10 s
#   overhead  100 running tasks, the same change without bad sources, --waves 10,50,100% --bake 3s
#             against no waves: the time the gates add, against three bakes plus 6 s
#   revert    apply a change, `livebatch revert` its journal, plan and apply that: every task back
#             on its original values and running
#   kill      kill -9 during a bake, then --resume (the gate evaluated, nothing re-sent); kill -9
#             during a rollback, then --resume (the rollback finished, the bad change not re-sent)
# Every check prints `ok` or `FAIL …`; the script exits non-zero if any failed.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS=("$@")
if [ ${#ROWS[@]} -eq 0 ]; then ROWS=(gate overhead revert kill); fi

cargo build --quiet --release --bin livebatch
BIN="${CARGO_TARGET_DIR:-target}/release/livebatch"
WORK="$(mktemp -d)"
EMU_PID=""
FAILED=0
stop_emulator() {
    if [ -n "$EMU_PID" ]; then kill "$EMU_PID" 2>/dev/null || true; wait "$EMU_PID" 2>/dev/null || true; fi
    EMU_PID=""
}
cleanup() { stop_emulator; rm -rf "$WORK"; }
trap cleanup EXIT
export ALIBABA_CLOUD_ACCESS_KEY_ID=livebatch-emulator ALIBABA_CLOUD_ACCESS_KEY_SECRET=livebatch-emulator-secret
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1
BAD='https://media.example.com/bad/*'

# gen NAME N BAD_FROM BAD_TO: N running tasks NAME-000…, seed NAME.seed.json on their old source;
# manifest NAME.json giving each a new source, those in [BAD_FROM, BAD_TO) an unreachable one.
gen() {
    python3 - "$WORK" "$@" <<'PY'
import datetime, json, sys
work, name, n, lo, hi = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
fmt = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
ids = [f"{name}-{i:03d}" for i in range(n)]
def new(i, t):
    return f"https://media.example.com/{'bad' if lo <= i < hi else 'new'}/{t}.mp4"
with open(f"{work}/{name}.json", "w") as f:
    json.dump({"updates": [{"TaskId": t, "Region": "cn-shanghai", "SourceUrls": [new(i, t)]}
                           for i, t in enumerate(ids)]}, f)
with open(f"{work}/{name}.seed.json", "w") as f:
    json.dump({"format": "livebatch-emulator-state", "version": 1, "tasks": [{
        "TaskId": t, "Region": "cn-shanghai", "SourceType": "url",
        "SourceUrls": [f"https://media.example.com/old/{t}.mp4"],
        "DstUrl": f"rtmp://push.example.com/live/{t}",
        "StartTime": fmt(now - datetime.timedelta(hours=1)),
        "EndTime": fmt(now + datetime.timedelta(days=1)),
        "CallbackUrl": "https://hooks.old.example.com/live", "TaskStatus": 1} for t in ids]}, f)
PY
}

start_emulator() {
    local seed="$1"; shift
    "$BIN" emulator --listen 127.0.0.1:0 --seed "$seed" --latency-ms 100..300 \
        --unreachable-source "$BAD" "$@" >"$WORK/emu.out" 2>"$WORK/emu.err" &
    EMU_PID=$!
    for _ in $(seq 1 600); do
        if grep -q '^listening on ' "$WORK/emu.out" 2>/dev/null; then break; fi
        sleep 0.1
    done
    ENDPOINT="$(sed -n 's#^listening on ##p' "$WORK/emu.out" | head -n1)"
    if [ -z "$ENDPOINT" ]; then echo "the emulator did not start"; cat "$WORK/emu.err"; exit 1; fi
}

# live NAME: the emulator's tasks now, as `export --format json` writes them, in NAME.live.json
live() {
    "$BIN" export --quiet --endpoint "$ENDPOINT" --region cn-shanghai --format json -o "$WORK/$1.live.json"
}

# check NAME PYTHON: runs PYTHON with `live` (task → (status, sources)), `report`, `journal` (the
# records) and `stats` (the emulator's) in scope; it prints its own lines and ok/FAIL.
check() {
    local name="$1" code="$2"
    live "$name"
    if ! python3 - "$WORK" "$name" "$ENDPOINT" <<PY
import json, sys, urllib.request
work, name, endpoint = sys.argv[1:4]
doc = json.load(open(f"{work}/{name}.live.json"))
live = {u["TaskId"]: (int(u.get("x-TaskStatus", -9)), u.get("SourceUrls")) for u in doc["updates"]}
try:
    report = json.load(open(f"{work}/{name}.report.json"))
except FileNotFoundError:
    report = None
journal = [json.loads(l) for l in open(f"{work}/{name}.jsonl") if l.strip()] if __import__("os").path.exists(f"{work}/{name}.jsonl") else []
stats = json.load(urllib.request.urlopen(f"{endpoint}/_emulator/stats"))
fails = []
def expect(cond, what):
    if not cond:
        fails.append(what)
$code
print("  ok" if not fails else "  FAIL: " + "; ".join(fails[:5]))
sys.exit(1 if fails else 0)
PY
    then FAILED=1; fi
}

# run NAME ARGS...: livebatch apply, timed; its exit code in NAME.rc, wall seconds in NAME.wall.
run() {
    local name="$1"; shift
    local t0 t1 rc=0
    t0=$(date +%s.%N)
    "$BIN" apply --yes --endpoint "$ENDPOINT" --journal "$WORK/$name.jsonl" \
        --report "$WORK/$name.report.json" "$@" 2>"$WORK/$name.err" || rc=$?
    t1=$(date +%s.%N)
    echo "$rc" >"$WORK/$name.rc"
    python3 -c "print(f'{$t1 - $t0:.2f}')" >"$WORK/$name.wall"
    echo "  exit $rc, wall $(cat "$WORK/$name.wall") s"
}

row_gate() {
    gen gate 300 60 100
    start_emulator "$WORK/gate.seed.json"
    echo "== 300 running tasks, --restart-running --waves 30,100,100% --bake 3s --max-unhealthy 10%, items 60–99 unreachable"
    run gate --restart-running --waves 30,100,100% --bake 3s --max-unhealthy 10% "$WORK/gate.json"
    check gate "
rc = int(open(f'{work}/gate.rc').read()); wall = float(open(f'{work}/gate.wall').read())
expect(rc == 5, f'exit {rc}, not 5')
w = report['waves']
print(f'  waves: ' + ', '.join(f\"{x['index']}: {x['verdict']} ({x['healthy']} healthy, {len(x.get('unhealthy', []))} unhealthy, rolled back {len(x.get('rolled_back', []))})\" for x in w))
expect([x['verdict'] for x in w] == ['passed', 'failed', 'not_reached'], 'verdicts')
ids = sorted(live)
for i, t in enumerate(ids):
    st, src = live[t]
    if i < 30:
        expect(st == 1 and src == [f'https://media.example.com/new/{t}.mp4'], f'{t} (wave 1): {st} {src}')
    else:
        expect(st == 1 and src == [f'https://media.example.com/old/{t}.mp4'], f'{t}: {st} {src}')
touched = {r['task_id'] for r in journal if r.get('type') in ('item', 'step')}
expect(not any(t in touched for t in ids[100:]), 'items 100-299 got a call')
# The run's own calls at the quota: its busiest operation's calls at 10/s.
by_op = report['summary'].get('by_operation', {})
top = max((v['calls'] for v in by_op.values()), default=0)
bound = top / 10 + 2 * 3 + 10
print(f'  run {report[\"summary\"][\"elapsed_seconds\"]:.1f} s (wall {wall:.1f} s incl. planning); busiest operation {top} calls = {top/10:.1f} s at the quota; bound {bound:.1f} s')
expect(report['summary']['elapsed_seconds'] <= bound, 'over the time bound')
"
    stop_emulator
}

row_overhead() {
    gen over 100 0 0
    start_emulator "$WORK/over.seed.json"
    echo "== 100 running tasks, --restart-running, no waves"
    run flat --restart-running "$WORK/over.json"
    stop_emulator
    start_emulator "$WORK/over.seed.json"
    echo "== the same, --waves 10,50,100% --bake 3s"
    run waved --restart-running --waves 10,50,100% --bake 3s "$WORK/over.json"
    check waved "
a = json.load(open(f'{work}/flat.report.json'))['summary']['elapsed_seconds']
b = report['summary']['elapsed_seconds']
print(f'  no waves {a:.1f} s, waves {b:.1f} s: the gates added {b - a:.1f} s (bound: 3 bakes + 6 s = 15 s)')
expect(int(open(f'{work}/waved.rc').read()) == 0, 'exit')
expect(b - a <= 15, 'over the bound')
expect(all(st == 1 and src[0].endswith(f'/new/{t}.mp4') for t, (st, src) in live.items()), 'not all on the new source and running')
"
    stop_emulator
}

row_revert() {
    gen rev 100 0 0
    start_emulator "$WORK/rev.seed.json"
    echo "== apply (100 running tasks, new sources and --restart-running), revert its journal, plan, apply"
    run rev --restart-running "$WORK/rev.json"
    local t0 t1
    t0=$(date +%s.%N)
    "$BIN" revert --endpoint "$ENDPOINT" "$WORK/rev.jsonl" -o "$WORK/back.yaml" 2>"$WORK/revert.err"
    "$BIN" plan --quiet --restart-running --endpoint "$ENDPOINT" "$WORK/back.yaml" >/dev/null || true
    run back --restart-running "$WORK/back.yaml"
    t1=$(date +%s.%N)
    python3 -c "print(f'  revert → plan → apply: {$t1 - $t0:.1f} s')"
    check back "
expect(int(open(f'{work}/back.rc').read()) == 0, 'exit')
expect(len(live) == 100, 'tasks')
expect(all(st == 1 and src == [f'https://media.example.com/old/{t}.mp4'] for t, (st, src) in live.items()), 'not all back on the old source and running')
"
    stop_emulator
}

# wait_journal FILE PYTHON-CONDITION: polls the journal until the condition over its records holds.
wait_journal() {
    local file="$1" cond="$2"
    for _ in $(seq 1 1200); do
        if python3 - "$file" <<PY 2>/dev/null
import json, sys
recs = []
for l in open(sys.argv[1]):
    try: recs.append(json.loads(l))
    except ValueError: pass
sys.exit(0 if ($cond) else 1)
PY
        then return 0; fi
        sleep 0.05
    done
    echo "  timed out waiting for: $cond"; return 1
}

row_kill() {
    gen kill 60 20 60
    start_emulator "$WORK/kill.seed.json"
    echo "== kill -9 during wave 1's bake (--waves 20,100% --bake 5s), then --resume"
    "$BIN" apply --yes --quiet --endpoint "$ENDPOINT" --journal "$WORK/kill.jsonl" --restart-running \
        --waves 20,100% --bake 5s "$WORK/kill.json" 2>/dev/null &
    local pid=$!
    wait_journal "$WORK/kill.jsonl" "sum(1 for r in recs if r.get('type') == 'item') >= 20"
    sleep 1
    kill -9 "$pid"; wait "$pid" 2>/dev/null || true
    run kill --resume --restart-running "$WORK/kill.json"
    check kill "
rc = int(open(f'{work}/kill.rc').read())
gates = [r for r in journal if r.get('type') == 'wave']
print(f'  gates: ' + ', '.join(f\"wave {g['wave']['index']} {g['wave']['verdict']} ({g['phase']})\" for g in gates))
expect(rc == 5, f'exit {rc}: wave 2 holds the bad sources')
expect(gates and gates[0]['wave']['index'] == 1 and gates[0]['wave']['verdict'] == 'passed', 'wave 1 gate evaluated on resume')
firsts = [r['task_id'] for r in journal if r.get('type') == 'item' and not r.get('rollback') and r.get('wave') == 1]
expect(len(firsts) == len(set(firsts)) == 20, f'wave 1 items sent once each ({len(firsts)})')
"
    stop_emulator
    gen kill2 60 20 60
    start_emulator "$WORK/kill2.seed.json"
    echo "== kill -9 during wave 2's rollback, then --resume"
    "$BIN" apply --yes --quiet --endpoint "$ENDPOINT" --journal "$WORK/kill2.jsonl" --restart-running \
        --waves 20,100% --bake 3s "$WORK/kill2.json" 2>/dev/null &
    pid=$!
    wait_journal "$WORK/kill2.jsonl" "sum(1 for r in recs if r.get('type') == 'item' and r.get('rollback')) >= 5"
    kill -9 "$pid"; wait "$pid" 2>/dev/null || true
    run kill2 --resume --restart-running "$WORK/kill2.json"
    check kill2 "
rc = int(open(f'{work}/kill2.rc').read())
expect(rc == 5, f'exit {rc}')
runs = [r['run_id'] for r in journal if r.get('type') == 'run']
last = runs[-1]
resent = [r for r in journal if r.get('type') == 'item' and r['run_id'] == last and not r.get('rollback')]
expect(not resent, f'{len(resent)} forward item(s) re-sent by the resume')
done = [g for g in journal if g.get('type') == 'wave' and g['phase'] == 'rolled_back']
expect(done, 'the rollback was finished')
ids = sorted(live)
for i, t in enumerate(ids):
    st, src = live[t]
    want = 'new' if i < 20 else 'old'
    expect(st == 1 and src == [f'https://media.example.com/{want}/{t}.mp4'], f'{t}: {st} {src}')
"
    stop_emulator
}

for row in "${ROWS[@]}"; do "row_$row"; done
exit "$FAILED"
