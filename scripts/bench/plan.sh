#!/usr/bin/env bash
# Benchmark for BENCHMARKS.md `## plan`: plan 10,000 updates against an emulator holding 10,000
# tasks at the default quota of 10 calls/s with 100..300 ms latency (issue 9: reads issued
# concurrently under their pacer, about 11 s), and count the calls it took.
# Usage: scripts/bench/plan.sh [TASKS] [EMULATOR FLAGS...]   (default flags: --latency-ms 100..300)
set -euo pipefail
cd "$(dirname "$0")/../.."
n="${1:-10000}"
shift || true
flags=("$@")
if [ ${#flags[@]} -eq 0 ]; then flags=(--latency-ms 100..300); fi
work="$(mktemp -d)"
trap 'kill "$emu_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
cargo build --release --quiet --bin livebatch

python3 - "$n" "$work" <<'PY'
import sys, datetime
n, work = int(sys.argv[1]), sys.argv[2]
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
fmt = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")
start, end, new_end = fmt(now - datetime.timedelta(hours=1)), fmt(now + datetime.timedelta(days=2)), fmt(now + datetime.timedelta(days=3))
with open(f"{work}/seed.yaml", "w") as f:
    f.write("updates:\n")
    for i in range(n):
        f.write(f"- TaskId: bench-{i:06d}\n  Region: cn-shanghai\n  SourceType: url\n"
                f"  SourceUrls: [https://media.example.com/{i}.mp4]\n  StartTime: {start}\n  EndTime: {end}\n"
                f"  CallbackUrl: https://hooks.old.example.com/cb\n  x-TaskStatus: '3'\n")
with open(f"{work}/manifest.csv", "w") as f:
    f.write("TaskId,Region,EndTime,CallbackUrl\n")
    for i in range(n):
        f.write(f"bench-{i:06d},cn-shanghai,{new_end},https://hooks.new.example.com/cb\n")
PY

./target/release/livebatch emulator --listen 127.0.0.1:0 --seed "$work/seed.yaml" "${flags[@]}" > "$work/emu.out" &
emu_pid=$!
for _ in $(seq 100); do grep -q listening "$work/emu.out" 2>/dev/null && break; sleep 0.1; done
url="$(sed -n 's/^listening on //p' "$work/emu.out" | head -1)"
export ALIBABA_CLOUD_ACCESS_KEY_ID=livebatch-emulator ALIBABA_CLOUD_ACCESS_KEY_SECRET=livebatch-emulator-secret
echo "emulator flags: ${flags[*]}"
/usr/bin/time -f "plan of $n updates: %e s wall, %M KB max RSS" \
  ./target/release/livebatch plan -v --endpoint "$url" --out "$work/plan.json" "$work/manifest.csv" | tail -1
curl -s "$url/_emulator/stats" | python3 -c '
import json, sys
s = json.load(sys.stdin)
print(json.dumps({k: v for k, v in s.items() if k in ("operations", "throttled", "max_accepted_in_any_window")}, indent=1))'
