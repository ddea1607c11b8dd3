"""The baseline for `scripts/bench/apply.sh`: a plain sequential loop over Alibaba Cloud's official
Python SDK sending the same updates as livebatch, against the same kind of emulator.

Usage: apply_sdk.py ENDPOINT MANIFEST.json
Prints one line: `sdk: N ok, M failed in S s (R updates/s)`.
No pacing and no retries beyond the SDK's defaults: what a hand-written script does.
"""

import json
import sys
import time

from alibabacloud_live20161101 import models as live
from alibabacloud_live20161101.client import Client
from alibabacloud_tea_openapi import utils_models as open_api

KEY_ID = "livebatch-emulator"
KEY_SECRET = "livebatch-emulator-secret"  # the emulator's public test key, not a real secret


def main():
    endpoint, manifest = sys.argv[1], sys.argv[2]
    with open(manifest, encoding="utf-8") as f:
        updates = json.load(f)["updates"]
    c = Client(
        open_api.Config(
            access_key_id=KEY_ID,
            access_key_secret=KEY_SECRET,
            endpoint=endpoint,
            protocol="http",
            region_id="cn-shanghai",
        )
    )
    ok = failed = 0
    start = time.monotonic()
    for u in updates:
        req = live.UpdateLivePullToPushRequest(
            task_id=u["TaskId"], region=u["Region"], callback_url=u["CallbackUrl"]
        )
        try:
            c.update_live_pull_to_push(req)
            ok += 1
        except Exception as e:  # noqa: BLE001 - a failed call is counted, as a script would
            failed += 1
            if failed <= 3:
                print(f"sdk: {u['TaskId']}: {type(e).__name__}: {e}", file=sys.stderr)
    elapsed = time.monotonic() - start
    print(f"sdk: {ok} ok, {failed} failed in {elapsed:.1f} s ({ok / elapsed:.2f} updates/s)")


main()
