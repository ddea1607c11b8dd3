#!/usr/bin/env bash
# Benchmark of `livebatch apply` against `livebatch emulator` (a separate process, loopback only),
# issue 5 item 11. Usage: benches/apply.sh [N]   (default 600 updates)
#
# Runs, each against a fresh emulator at its default quota of 10 calls/s:
#   1. --latency-ms 100..300
#   2. --latency-ms 100..300 --jitter-ms 20
#   3. --latency-ms 100..300 --fail-rate 0.1
#   4. the official Python SDK (alibabacloud-live20161101, throwaway venv) in a sequential loop,
#      --latency-ms 100..300                  (skipped with SKIP_SDK=1)
# and prints, per run: updates/s, throttled responses, the emulator's busiest one-second window.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-600}"

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

# The manifest (JSON is YAML) and the emulator's seed: N stopped live tasks, callbacks to move.
python3 - "$N" "$WORK" <<'PY'
import datetime, json, sys
n, work = int(sys.argv[1]), sys.argv[2]
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
fmt = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
ids = [f"bench-{i:05d}" for i in range(n)]
updates = [{"TaskId": t, "Region": "cn-shanghai",
            "CallbackUrl": f"https://hooks.new.example.com/live/{t}"} for t in ids]
tasks = [{"TaskId": t, "Region": "cn-shanghai", "SourceType": "live", "SourceProtocol": "rtmp",
          "SourceUrls": [f"rtmp://origin.example.com/live/{t}"],
          "DstUrl": f"rtmp://push.example.com/live/{t}",
          "StartTime": fmt(now - datetime.timedelta(hours=1)),
          "EndTime": fmt(now + datetime.timedelta(days=1)),
          "CallbackUrl": "https://hooks.old.example.com/live", "TaskStatus": 3} for t in ids]
json.dump({"updates": updates}, open(f"{work}/manifest.json", "w"))
json.dump({"format": "livebatch-emulator-state", "version": 1, "tasks": tasks},
          open(f"{work}/seed.json", "w"))
PY

start_emulator() {
    "$BIN" emulator --listen 127.0.0.1:0 --seed "$WORK/seed.json" "$@" >"$WORK/emu.out" 2>"$WORK/emu.err" &
    EMU_PID=$!
    for _ in $(seq 1 100); do
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
ops = s["operations"].get("UpdateLivePullToPush", {})
print(f"  emulator: {s['requests']} calls, ok {ops.get('ok', 0)}, throttled {s['throttled']} "
      f"({100 * s['throttled'] / max(s['requests'], 1):.2f} %), "
      f"busiest 1-s window {s['max_accepted_in_any_window']} (quota {s['qps']}), outcomes {ops}")
PY
}

run_livebatch() {
    local name="$1"; shift
    start_emulator "$@"
    rm -f "$WORK/j.jsonl"
    echo "== livebatch apply, emulator $*"
    env -i HOME="$WORK" PATH="$PATH" NO_PROXY=127.0.0.1 \
        ALIBABA_CLOUD_ACCESS_KEY_ID=livebatch-emulator \
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=livebatch-emulator-secret \
        "$BIN" apply "$WORK/manifest.json" --yes --quiet --endpoint "$ENDPOINT" \
        --journal "$WORK/j.jsonl" --report "$WORK/$name.json" || echo "  exit code $?"
    python3 - "$WORK/$name.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["summary"]
print(f"  livebatch: {s['succeeded']}/{s['total']} succeeded, {s['failed']} failed in "
      f"{s['elapsed_seconds']:.2f} s = {s['succeeded'] / s['elapsed_seconds']:.2f} updates/s; "
      f"{s['calls']} calls, {s['retries']} retries, {s['throttled']} throttled; "
      f"latency p50/p95/p99 {s['latency_ms']['p50']}/{s['latency_ms']['p95']}/{s['latency_ms']['p99']} ms")
PY
    stats
    stop_emulator
}

run_livebatch latency --latency-ms 100..300
run_livebatch jitter --latency-ms 100..300 --jitter-ms 20
run_livebatch faults --latency-ms 100..300 --fail-rate 0.1

if [ "${SKIP_SDK:-0}" != 1 ]; then
    python3 -m venv "$WORK/venv"
    "$WORK/venv/bin/pip" install --quiet --disable-pip-version-check alibabacloud-live20161101
    echo "== official Python SDK $("$WORK/venv/bin/pip" show alibabacloud-live20161101 | sed -n 's/^Version: //p'), sequential loop, emulator --latency-ms 100..300"
    start_emulator --latency-ms 100..300
    NO_PROXY=127.0.0.1 no_proxy=127.0.0.1 \
        "$WORK/venv/bin/python" benches/apply_sdk.py "${ENDPOINT#http://}" "$WORK/manifest.json"
    stats
    stop_emulator
fi
