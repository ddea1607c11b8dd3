"""The "second caller" of `scripts/bench/apply.sh shared`: another script on the same account key that
sends UpdateLivePullToPush at a fixed rate, never slowing down, for a given time.

Usage: second_caller.py ENDPOINT MANIFEST.json RATE SECONDS
Signs with the V2 scheme (HMAC-SHA1 over the sorted query; Python standard library only), one
call every 1/RATE s on a fixed grid, each in its own thread so latency does not slow the grid.
Prints one line: `second caller: N calls in S s (R/s), T throttled`.
"""

import base64
import datetime
import hashlib
import hmac
import json
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

KEY_ID = "livebatch-emulator"
KEY_SECRET = "livebatch-emulator-secret"  # the emulator's public test key, not a real secret


def enc(s):
    return urllib.parse.quote(str(s), safe="-_.~")


def signed_url(endpoint, params):
    p = dict(params)
    p.update({
        "Version": "2016-11-01", "Format": "JSON", "AccessKeyId": KEY_ID,
        "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
        "SignatureNonce": uuid.uuid4().hex,
        "Timestamp": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    })
    query = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(p.items()))
    to_sign = "GET&%2F&" + enc(query)
    sig = base64.b64encode(hmac.new((KEY_SECRET + "&").encode(), to_sign.encode(), hashlib.sha1).digest())
    return f"{endpoint}/?{query}&Signature={enc(sig.decode())}"


def main():
    endpoint, manifest, rate, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    updates = json.load(open(manifest, encoding="utf-8"))["updates"]
    counts = {"calls": 0, "throttled": 0, "other": 0}
    lock = threading.Lock()

    def call(u):
        params = {"Action": "UpdateLivePullToPush", "TaskId": u["TaskId"], "Region": u["Region"],
                  "CallbackUrl": u["CallbackUrl"]}
        try:
            urllib.request.urlopen(signed_url(endpoint, params), timeout=30).read()
            key = "calls"
        except urllib.error.HTTPError as e:
            key = "throttled" if "Throttling" in e.read().decode(errors="replace") else "other"
        with lock:
            counts[key] += 1

    start = time.monotonic()
    threads, i = [], 0
    while time.monotonic() - start < seconds:
        t = threading.Thread(target=call, args=(updates[i % len(updates)],))
        t.start()
        threads.append(t)
        i += 1
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
    for t in threads:
        t.join()
    took = time.monotonic() - start
    total = counts["calls"] + counts["throttled"] + counts["other"]
    print(f"  second caller: {total} calls in {took:.1f} s ({total / took:.2f}/s), "
          f"{counts['throttled']} throttled, {counts['other']} other errors")


if __name__ == "__main__":
    main()
