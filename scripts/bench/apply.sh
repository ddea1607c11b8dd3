#!/usr/bin/env bash
# Benchmarks of `livebatch apply` against `livebatch emulator` (a separate process, loopback
# only): the table of BENCHMARKS.md `## apply` (issues 5 and 9).
#
# Usage: scripts/bench/apply.sh [ROW...]   (default: every row but `million`)
#   live       apply FILE (plan against live state, then send), 600 updates, --latency-ms 100..300
#   jitter     the same with --jitter-ms 20
#   faults     the same with --fail-rate 0.1
#   planned    apply --plan, 600 change items (stopped tasks), --latency-ms 100..300
#   restart    apply --plan, 300 stop → update → restart items (running tasks), --latency-ms 100..300
#   verify     apply FILE --verify, 600 updates: the read-back's cost (wall time with − without)
#   shared     a second caller takes 5/s of UpdateLivePullToPush throughout, 300 updates
#   raised     --qps 5000 --quota-raised, 30,000 updates, no latency (and --qps 10000; QPS="…" to change)
#   million    --qps 10000 --quota-raised, 1,000,000 updates: peak RSS   (N=… to change the size;
#              RESUME=1 then resumes the finished run over its journal)
#   sdk        the official Python SDK in a sequential loop, 600 updates (needs PyPI for a venv)
# Per row it prints updates/s (the report's succeeded ÷ elapsed), calls, throttled, the busiest
# one-second window per operation from the emulator, and wall time / peak RSS of livebatch.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS=("$@")
if [ ${#ROWS[@]} -eq 0 ]; then ROWS=(live jitter faults planned restart verify shared raised); fi

cargo build --quiet --release --bin livebatch
BIN="${CARGO_TARGET_DIR:-target}/release/livebatch"
WORK="$(mktemp -d)"
EMU_PID=""
stop_emulator() {
    if [ -n "$EMU_PID" ]; then kill "$EMU_PID" 2>/dev/null || true; wait "$EMU_PID" 2>/dev/null || true; fi
    EMU_PID=""
}
cleanup() { stop_emulator; rm -rf "$WORK"; }
trap cleanup EXIT
export ALIBABA_CLOUD_ACCESS_KEY_ID=livebatch-emulator ALIBABA_CLOUD_ACCESS_KEY_SECRET=livebatch-emulator-secret
export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1

# gen NAME N STATUS CHANGE: manifest NAME.json (JSON is YAML) and emulator seed NAME.seed.json of
# N tasks in TaskStatus STATUS (3 stopped, 1 running); CHANGE is `callback` or `sources`.
gen() {
    python3 - "$WORK" "$@" <<'PY'
import datetime, json, sys
work, name, n, status, change = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
fmt = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
ids = [f"{name}-{i:07d}" for i in range(n)]
def update(t):
    u = {"TaskId": t, "Region": "cn-shanghai"}
    if change == "callback":
        u["CallbackUrl"] = f"https://hooks.new.example.com/live/{t}"
    else:
        u["SourceUrls"] = [f"https://media.example.com/new/{t}.mp4"]
    return u
with open(f"{work}/{name}.csv", "w") as f:  # streamed: no YAML node budget at 100,000s of rows
    f.write("TaskId,Region,CallbackUrl\n" if change == "callback" else "TaskId,Region\n")
    for t in ids:
        u = update(t)
        if change == "callback":
            f.write(f"{t},cn-shanghai,{u['CallbackUrl']}\n")
with open(f"{work}/{name}.json", "w") as f:
    f.write('{"updates": [\n')
    f.write(",\n".join(json.dumps(update(t)) for t in ids))
    f.write("\n]}\n")
with open(f"{work}/{name}.seed.json", "w") as f:
    f.write('{"format": "livebatch-emulator-state", "version": 1, "tasks": [\n')
    f.write(",\n".join(json.dumps({
        "TaskId": t, "Region": "cn-shanghai", "SourceType": "url",
        "SourceUrls": [f"https://media.example.com/old/{t}.mp4"],
        "DstUrl": f"rtmp://push.example.com/live/{t}",
        "StartTime": fmt(now - datetime.timedelta(hours=1)),
        "EndTime": fmt(now + datetime.timedelta(days=1)),
        "CallbackUrl": "https://hooks.old.example.com/live", "TaskStatus": status}) for t in ids))
    f.write("\n]}\n")
PY
}

# start_emulator SEED FLAGS...
start_emulator() {
    local seed="$1"; shift
    "$BIN" emulator --listen 127.0.0.1:0 --seed "$seed" "$@" >"$WORK/emu.out" 2>"$WORK/emu.err" &
    EMU_PID=$!
    for _ in $(seq 1 600); do
        if grep -q '^listening on ' "$WORK/emu.out" 2>/dev/null; then break; fi
        sleep 0.1
    done
    ENDPOINT="$(sed -n 's#^listening on ##p' "$WORK/emu.out" | head -n1)"
    if [ -z "$ENDPOINT" ]; then echo "the emulator did not start"; cat "$WORK/emu.err"; exit 1; fi
}

stats() {
    python3 - "$ENDPOINT" <<'PY'
import json, sys, urllib.request
s = json.load(urllib.request.urlopen(f"{sys.argv[1]}/_emulator/stats"))
w = ", ".join(f"{x['action'].replace('LivePullToPush', '')} {x['max_accepted_in_any_window']}"
              for x in sorted(s["windows"], key=lambda x: x["action"]))
print(f"  emulator: {s['requests']} calls, throttled {s['throttled']} "
      f"({100 * s['throttled'] / max(s['requests'], 1):.2f} %); busiest 1-s window per operation "
      f"(quota {s['qps']}): {w}")
PY
}

# run_apply NAME ARGS...: livebatch apply with a report, timed (wall, peak RSS).
run_apply() {
    local name="$1"; shift
    rm -f "$WORK/$name.jsonl"
    /usr/bin/time -f "%e %M" -o "$WORK/$name.time" \
        "$BIN" apply --yes --quiet --endpoint "$ENDPOINT" --journal "$WORK/$name.jsonl" \
        --report "$WORK/$name.report.json" "$@" || echo "  exit code $?"
    python3 - "$WORK/$name.report.json" "$WORK/$name.time" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["summary"]
wall, rss = open(sys.argv[2]).read().split()[-2:]
ok = s["succeeded"]
print(f"  livebatch: {ok}/{s['total']} succeeded, {s['failed']} failed, {s.get('noop', 0)} noop in "
      f"{s['elapsed_seconds']:.2f} s = {ok / s['elapsed_seconds']:.2f} updates/s; {s['calls']} calls, "
      f"{s['retries']} retries, {s['throttled']} throttled; latency p50/p95/p99 "
      f"{s['latency_ms']['p50']}/{s['latency_ms']['p95']}/{s['latency_ms']['p99']} ms; "
      f"wall {wall} s (planning included), peak RSS {int(rss) // 1024} MiB")
PY
}

row_live() {
    local name="$1"; shift
    gen live 600 3 callback
    start_emulator "$WORK/live.seed.json" "$@"
    echo "== apply FILE (plan, then send), 600 updates, emulator $*"
    run_apply "$name" "$WORK/live.json"
    stats; stop_emulator
}

row_planned() {
    gen planned 600 3 callback
    start_emulator "$WORK/planned.seed.json" --latency-ms 100..300
    "$BIN" plan --quiet --endpoint "$ENDPOINT" --out "$WORK/planned.plan.json" "$WORK/planned.json" >/dev/null
    echo "== apply --plan, 600 change items, emulator --latency-ms 100..300"
    run_apply planned --plan "$WORK/planned.plan.json"
    stats; stop_emulator
}

row_restart() {
    gen restart 300 1 sources
    start_emulator "$WORK/restart.seed.json" --latency-ms 100..300
    "$BIN" plan --quiet --restart-running --endpoint "$ENDPOINT" --out "$WORK/restart.plan.json" "$WORK/restart.json" >/dev/null
    echo "== apply --plan, 300 stop → update → restart items (+ staleness Describe), emulator --latency-ms 100..300"
    run_apply restart --plan "$WORK/restart.plan.json"
    stats; stop_emulator
}

row_verify() {
    gen verify 600 3 callback
    start_emulator "$WORK/verify.seed.json" --latency-ms 100..300
    echo "== apply FILE without --verify, 600 updates, emulator --latency-ms 100..300"
    run_apply noverify "$WORK/verify.json"
    stop_emulator
    start_emulator "$WORK/verify.seed.json" --latency-ms 100..300
    echo "== apply FILE --verify, 600 updates, emulator --latency-ms 100..300"
    run_apply verify --verify "$WORK/verify.json"
    stats; stop_emulator
    python3 - "$WORK/noverify.time" "$WORK/verify.time" <<'PY'
import sys
a, b = (float(open(p).read().split()[-2]) for p in sys.argv[1:])
print(f"  --verify added {b - a:.2f} s of wall time ({a:.2f} s → {b:.2f} s)")
PY
}

row_shared() {
    gen shared 300 3 callback
    gen other 400 3 callback
    python3 - "$WORK" <<'PY'
import json, sys
w = sys.argv[1]
a, b = (json.load(open(f"{w}/{n}.seed.json")) for n in ("shared", "other"))
a["tasks"] += b["tasks"]
json.dump(a, open(f"{w}/both.seed.json", "w"))
PY
    start_emulator "$WORK/both.seed.json" --latency-ms 100..300
    echo "== apply FILE, 300 updates, while a second caller (same key) sends 5 updates/s throughout, emulator --latency-ms 100..300"
    python3 scripts/bench/second_caller.py "$ENDPOINT" "$WORK/other.json" 5 75 &
    local other=$!
    sleep 2
    run_apply shared "$WORK/shared.json"
    wait "$other" || true
    stats; stop_emulator
}

row_raised() {
    local n="${N:-30000}"
    gen raised "$n" 3 callback
    for q in ${QPS:-5000 10000}; do
        start_emulator "$WORK/raised.seed.json" --qps "$q"
        echo "== apply FILE --qps $q --quota-raised, $n updates, no latency"
        run_apply "raised$q" --qps "$q" --quota-raised "$WORK/raised.csv"
        stats; stop_emulator
    done
}

row_million() {
    local n="${N:-1000000}"
    gen million "$n" 3 callback
    start_emulator "$WORK/million.seed.json" --qps 10000
    echo "== apply FILE --qps 10000 --quota-raised, $n updates, no latency"
    run_apply million --qps 10000 --quota-raised "$WORK/million.csv"
    stats
    if [ -n "${RESUME:-}" ]; then
        # Resuming the finished run: every record read back, every update skipped.
        echo "== apply FILE --resume over the journal of that run"
        /usr/bin/time -f "%e %M" -o "$WORK/resume.time" \
            "$BIN" apply --yes --quiet --endpoint "$ENDPOINT" --journal "$WORK/million.jsonl" \
            --resume --qps 10000 --quota-raised "$WORK/million.csv" || echo "  exit code $?"
        read -r wall rss <"$WORK/resume.time"
        echo "  livebatch --resume: wall $wall s, peak RSS $((rss / 1024)) MiB"
    fi
    stop_emulator
}

row_sdk() {
    gen sdk 600 3 callback
    python3 -m venv "$WORK/venv"
    "$WORK/venv/bin/pip" install --quiet --disable-pip-version-check alibabacloud-live20161101
    echo "== official Python SDK $("$WORK/venv/bin/pip" show alibabacloud-live20161101 | sed -n 's/^Version: //p'), sequential loop, emulator --latency-ms 100..300"
    start_emulator "$WORK/sdk.seed.json" --latency-ms 100..300
    "$WORK/venv/bin/python" scripts/bench/apply_sdk.py "${ENDPOINT#http://}" "$WORK/sdk.json"
    stats; stop_emulator
}

for row in "${ROWS[@]}"; do
    case "$row" in
        live) row_live live --latency-ms 100..300 ;;
        jitter) row_live jitter --latency-ms 100..300 --jitter-ms 20 ;;
        faults) row_live faults --latency-ms 100..300 --fail-rate 0.1 ;;
        planned | restart | verify | shared | raised | million | sdk) "row_$row" ;;
        *) echo "unknown row $row"; exit 64 ;;
    esac
done
