"""Drives a running `livebatch emulator` with Alibaba Cloud's official Python SDK.

Usage: interop.py ENDPOINT   (e.g. 127.0.0.1:8787; the emulator's default public test key is used)

Proves the emulator speaks the real protocol independently of livebatch's own client: the SDK
signs (V3 by default, V2 when asked), sends and parses exactly as it does against the service.
"""

import datetime
import sys
import traceback

from alibabacloud_live20161101 import models as live
from alibabacloud_live20161101.client import Client
from alibabacloud_tea_openapi import utils_models as open_api
from alibabacloud_tea_openapi.exceptions import ClientException, ThrottlingException

KEY_ID = "livebatch-emulator"
KEY_SECRET = "livebatch-emulator-secret"  # the emulator's public test key, not a real secret
REGION = "cn-shanghai"


def client(endpoint, secret=KEY_SECRET, algorithm=None):
    cfg = open_api.Config(
        access_key_id=KEY_ID,
        access_key_secret=secret,
        endpoint=endpoint,
        protocol="http",
        region_id=REGION,
    )
    if algorithm:
        cfg.signature_algorithm = algorithm
    return Client(cfg)


def utc(delta_minutes):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=delta_minutes)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


results = []


def check(name, fn):
    try:
        fn()
        results.append((name, True))
        print(f"ok   {name}")
    except Exception as e:  # noqa: BLE001 - every failure is reported, then counted
        results.append((name, False))
        print(f"FAIL {name}: {type(e).__name__}: {e}")
        traceback.print_exc(limit=2)


def main():
    endpoint = sys.argv[1]
    c = client(endpoint)
    state = {}

    def create():
        r = c.create_live_pull_to_push(live.CreateLivePullToPushRequest(
            region=REGION,
            source_type="url",
            source_urls=["https://cdn.example.com/a.mp4", "https://cdn.example.com/b.mp4"],
            dst_url="rtmp://push.example.com/app/interop",
            start_time=utc(-1),
            end_time=utc(120),
            task_name="interop-task",
            callback_url="https://hooks.example.com/live",
        ))
        assert r.status_code == 200, r.status_code
        assert r.body.ret_code == 0, r.body
        state["id"] = r.body.task_id
        assert len(state["id"]) == 36, state["id"]

    def describe(expect_status=None):
        r = c.describe_live_pull_to_push(live.DescribeLivePullToPushRequest(
            task_id=state["id"], region=REGION))
        assert r.body.task_id == state["id"]
        if expect_status is not None:
            assert r.body.task_status == expect_status, r.body.task_status
        return r.body

    def describe_running():
        b = describe(1)
        assert b.task_info.callback_url == "https://hooks.example.com/live", b.task_info.callback_url
        assert b.task_info.source_urls == ["https://cdn.example.com/a.mp4", "https://cdn.example.com/b.mp4"]

    def list_tasks():
        r = c.describe_live_pull_to_push_list(live.DescribeLivePullToPushListRequest(
            region=REGION, task_name="interop", page_number=1, page_size=10))
        assert r.body.total == 1, r.body.total
        assert r.body.task_list[0].task_id == state["id"]

    def update_running():
        r = c.update_live_pull_to_push(live.UpdateLivePullToPushRequest(
            task_id=state["id"], region=REGION, repeat_number=-1,
            callback_url="https://hooks.example.com/new?a=1 b*"))
        assert r.body.ret_code == 0
        b = describe(1)
        assert b.task_info.repeat_number == -1
        assert b.task_info.callback_url == "https://hooks.example.com/new?a=1 b*"

    def update_sources_while_running_refused():
        try:
            c.update_live_pull_to_push(live.UpdateLivePullToPushRequest(
                task_id=state["id"], region=REGION, source_urls=["https://cdn.example.com/c.mp4"]))
        except ClientException as e:
            assert e.code == "InvalidParameter", e.code
            assert e.status_code == 400
            return
        raise AssertionError("a running task accepted new SourceUrls")

    def stop():
        r = c.stop_live_pull_to_push(live.StopLivePullToPushRequest(task_id=state["id"], region=REGION))
        assert r.body.task_id == state["id"]
        describe(3)

    def update_stopped():
        r = c.update_live_pull_to_push(live.UpdateLivePullToPushRequest(
            task_id=state["id"], region=REGION,
            source_urls=["https://cdn.example.com/c.mp4", "https://cdn.example.com/d.flv"],
            file_index=1, offset=10))
        assert r.body.ret_code == 0
        assert describe(3).task_info.file_index == 1

    def restart():
        r = c.restart_live_pull_to_push(live.RestartLivePullToPushRequest(task_id=state["id"], region=REGION))
        assert r.body.task_id == state["id"]
        describe(1)

    def delete():
        r = c.delete_live_pull_to_push(live.DeleteLivePullToPushRequest(task_id=state["id"], region=REGION))
        assert r.body.ret_code == 0
        try:
            describe()
        except ClientException as e:
            assert e.code == "CodeTaskNotExist", e.code
            return
        raise AssertionError("a deleted task is still describable")

    def wrong_secret():
        try:
            client(endpoint, secret="wrong-secret").describe_live_pull_to_push_list(
                live.DescribeLivePullToPushListRequest(region=REGION))
        except ClientException as e:
            assert e.code == "SignatureDoesNotMatch", e.code
            return
        raise AssertionError("a wrong secret was accepted")

    def v2_signing():
        v2 = client(endpoint, algorithm="v2")
        r = v2.describe_live_pull_to_push_list(live.DescribeLivePullToPushListRequest(region=REGION))
        assert r.status_code == 200
        r = v2.create_live_pull_to_push(live.CreateLivePullToPushRequest(
            region=REGION, source_type="live", source_protocol="rtmp",
            source_urls=["rtmp://pull.example.com/app/s"], dst_url="rtmp://push.example.com/app/v2",
            start_time=utc(10), end_time=utc(60)))
        assert r.body.ret_code == 0
        v2.delete_live_pull_to_push(live.DeleteLivePullToPushRequest(task_id=r.body.task_id, region=REGION))

    def burst_throttled():
        req = live.DescribeLivePullToPushListRequest(region=REGION, page_size=1)
        for _ in range(40):
            try:
                c.describe_live_pull_to_push_list(req)
            except ThrottlingException as e:
                assert e.code == "Throttling.User", e.code
                assert isinstance(e.retry_after, int) and 0 < e.retry_after <= 1000, e.retry_after
                print(f"     throttled after a burst; retry_after={e.retry_after} ms")
                return
        raise AssertionError("40 calls in a burst were never throttled")

    check("create", create)
    check("describe (running, CallbackURL)", describe_running)
    check("list (fuzzy TaskName, paging)", list_tasks)
    check("update while running (RepeatNumber, CallbackUrl)", update_running)
    check("update SourceUrls while running refused", update_sources_while_running_refused)
    check("stop", stop)
    check("update while stopped", update_stopped)
    check("restart", restart)
    check("delete", delete)
    check("wrong secret rejected", wrong_secret)
    check("V2 signature accepted", v2_signing)
    check("burst throttled with retry-after", burst_throttled)

    passed = sum(1 for _, ok in results if ok)
    failed = len(results) - passed
    print(f"interop: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
