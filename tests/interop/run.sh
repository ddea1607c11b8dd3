#!/usr/bin/env bash
# Interoperability test: Alibaba Cloud's official Python SDKs (alibabacloud-live20161101 and
# alibabacloud-sts20150401, from PyPI, in a throwaway virtual environment) against
# `livebatch emulator`. Loopback only.
# Prints `interop: N passed, M failed` and exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

cargo build --quiet --bin livebatch
BIN="${CARGO_TARGET_DIR:-target}/debug/livebatch"

WORK="$(mktemp -d)"
EMU_PID=""
cleanup() {
    if [ -n "$EMU_PID" ]; then kill "$EMU_PID" 2>/dev/null || true; wait "$EMU_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install --quiet --disable-pip-version-check alibabacloud-live20161101 alibabacloud-sts20150401
echo "interop: SDK $("$WORK/venv/bin/pip" show alibabacloud-live20161101 | sed -n 's/^Version: //p')," \
     "STS $("$WORK/venv/bin/pip" show alibabacloud-sts20150401 | sed -n 's/^Version: //p')," \
     "openapi $("$WORK/venv/bin/pip" show alibabacloud-tea-openapi | sed -n 's/^Version: //p')"

# The default public test key, plus two keys of one account (public test values, see interop.py).
"$BIN" emulator --listen 127.0.0.1:0 --access-key-secret livebatch-emulator-secret \
    --key interop-main:interop-main-secret:1111222233334444 \
    --key interop-ram:interop-ram-secret:1111222233334444 \
    --sts-ttl 3 >"$WORK/out" 2>"$WORK/err" &
EMU_PID=$!
for _ in $(seq 1 100); do
    if grep -q '^listening on ' "$WORK/out" 2>/dev/null; then break; fi
    sleep 0.1
done
ENDPOINT="$(sed -n 's#^listening on http://##p' "$WORK/out" | head -n1)"
if [ -z "$ENDPOINT" ]; then
    echo "interop: the emulator did not start"; cat "$WORK/err"; exit 1
fi
NO_PROXY="127.0.0.1,localhost" no_proxy="127.0.0.1,localhost" \
    "$WORK/venv/bin/python" tests/interop/interop.py "$ENDPOINT"
