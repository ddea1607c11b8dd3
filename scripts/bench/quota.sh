#!/usr/bin/env bash
# Benchmark of the shared quota (issue 12 item 7): three `livebatch apply` processes × N updates
# (default 200) against ONE `livebatch emulator` process at its 10 calls/s quota with
# --latency-ms 100..300, first sharing the quota through a redis-server (--quota-store), then the
# same three runs without it. Then the store's own cost (benches/quota_store.rs).
# Usage: scripts/bench/quota.sh [N]      Needs: redis-server (apt-get install -y redis-server), python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
N="${1:-200}"

cargo build --quiet --release --bin livebatch
BIN="${CARGO_TARGET_DIR:-target}/release/livebatch"

WORK="$(mktemp -d)"
EMU_PID=""
REDIS_PID=""
stop_emulator() {
    if [ -n "$EMU_PID" ]; then kill "$EMU_PID" 2>/dev/null || true; wait "$EMU_PID" 2>/dev/null || true; fi
    EMU_PID=""
}
cleanup() {
    stop_emulator
    if [ -n "$REDIS_PID" ]; then kill "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

REDIS_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" >/dev/null &
REDIS_PID=$!
for _ in $(seq 1 100); do
    if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then break; fi
    sleep 0.1
done
REDIS_URL="redis://127.0.0.1:$REDIS_PORT"

# Three manifests of N updates each (distinct tasks), one seed with all of them.
python3 - "$N" "$WORK" <<'PY'
import datetime, json, sys
n, work = int(sys.argv[1]), sys.argv[2]
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
fmt = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
tasks = []
for r in "abc":
    ids = [f"{r}-{i:05d}" for i in range(n)]
    json.dump({"updates": [{"TaskId": t, "Region": "cn-shanghai",
                            "CallbackUrl": f"https://hooks.new.example.com/live/{t}"} for t in ids]},
              open(f"{work}/{r}.json", "w"))
    tasks += [{"TaskId": t, "Region": "cn-shanghai", "SourceType": "live", "SourceProtocol": "rtmp",
               "SourceUrls": [f"rtmp://origin.example.com/live/{t}"],
               "DstUrl": f"rtmp://push.example.com/live/{t}",
               "StartTime": fmt(now - datetime.timedelta(hours=1)),
               "EndTime": fmt(now + datetime.timedelta(days=1)),
               "CallbackUrl": "https://hooks.old.example.com/live", "TaskStatus": 3} for t in ids]
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

three_runners() {
    local name="$1"; shift
    start_emulator --latency-ms 100..300
    echo "== three runners × $N updates, one emulator at 10 calls/s, latency 100..300 ms: $name"
    local t0 t1 pids=()
    t0="$(date +%s.%N)"
    for r in a b c; do
        rm -f "$WORK/$name-$r.jsonl"
        env -i HOME="$WORK" PATH="$PATH" NO_PROXY=127.0.0.1 \
            ALIBABA_CLOUD_ACCESS_KEY_ID=livebatch-emulator \
            ALIBABA_CLOUD_ACCESS_KEY_SECRET=livebatch-emulator-secret \
            "$BIN" apply "$WORK/$r.json" --yes --quiet --endpoint "$ENDPOINT" \
            --journal "$WORK/$name-$r.jsonl" --report "$WORK/$name-$r.report.json" "$@" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || echo "  a runner exited with $?"; done
    t1="$(date +%s.%N)"
    python3 - "$WORK" "$name" "$t0" "$t1" "$ENDPOINT" <<'PY'
import datetime, json, sys, urllib.request
work, name, t0, t1, endpoint = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
def ts(s): return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
ok, thr = {}, {}
for r in "abc":
    recs = [json.loads(l) for l in open(f"{work}/{name}-{r}.jsonl") if l.strip()]
    ok[r] = sorted(ts(x["at"]) for x in recs if x.get("type") == "item" and x["status"] == "succeeded")
    s = json.load(open(f"{work}/{name}-{r}.report.json"))["summary"]
    thr[r] = s["throttled"]
total = sum(len(v) for v in ok.values())
first = min(v[0] for v in ok.values()); last = max(v[-1] for v in ok.values())
print(f"  together: {total} updates in {t1 - t0:.2f} s = {total / (t1 - t0):.2f} updates/s, processes' "
      f"start and exit included; first to last response {last - first:.2f} s = "
      f"{(total - 1) / (last - first):.2f} updates/s (throttled responses seen by the runners: {sum(thr.values())})")
lo = max(v[0] for v in ok.values()); hi = min(v[-1] for v in ok.values())
inside = {r: sum(1 for t in v if lo <= t <= hi) for r, v in ok.items()}
n = sum(inside.values())
print(f"  while all three ran ({hi - lo:.1f} s): " + ", ".join(
    f"{r} {inside[r]} ({100 * inside[r] / max(n, 1):.1f} %, {100 * (inside[r] / max(n, 1) * 3 - 1):+.1f} % of a third)"
    for r in "abc"))
for r in "abc":
    print(f"  runner {r}: {len(ok[r])} updates, first response {ok[r][0] - t0:.2f} s and last "
          f"{ok[r][-1] - t0:.2f} s after the start, {thr[r]} throttled")
s = json.load(urllib.request.urlopen(f"{endpoint}/_emulator/stats"))
print(f"  emulator: {s['requests']} calls, throttled {s['throttled']}, "
      f"busiest 1-s window {s['max_accepted_in_any_window']} (quota {s['qps']})")
PY
    stop_emulator
}

three_runners shared --quota-store "$REDIS_URL" --quota-key bench-account
three_runners separate

echo "== the store's cost (one process, redis-server on loopback)"
cargo bench --quiet --bench quota_store -- "$REDIS_URL" 2>/dev/null
