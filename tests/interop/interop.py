"""Drives a running `livebatch emulator` with Alibaba Cloud's official Python SDKs.

Usage: interop.py ENDPOINT   (e.g. 127.0.0.1:8787; the emulator's default public test key is used,
and run.sh also gives it two keys of one account, ACCOUNT below, and --sts-ttl STS_TTL)

Proves the emulator speaks the real protocol independently of livebatch's own client: the SDK
signs (V3 by default, V2 when asked), sends and parses exactly as it does against the service.
"""

import datetime
import sys
import traceback

import time

from alibabacloud_live20161101 import models as live
from alibabacloud_live20161101.client import Client
from alibabacloud_sts20150401 import models as sts
from alibabacloud_sts20150401.client import Client as StsClient
from alibabacloud_tea_openapi import utils_models as open_api
from alibabacloud_tea_openapi.exceptions import ClientException, ThrottlingException

KEY_ID = "livebatch-emulator"
KEY_SECRET = "livebatch-emulator-secret"  # the emulator's public test key, not a real secret
REGION = "cn-shanghai"
# Two keys of one account (public test values, given to the emulator by run.sh with --key).
ACCOUNT = "1111222233334444"
MAIN_ID, MAIN_SECRET = "interop-main", "interop-main-secret"
RAM_ID, RAM_SECRET = "interop-ram", "interop-ram-secret"
STS_TTL = 3  # run.sh: --sts-ttl 3
ROLE_ARN = "acs:ram::5555000011112222:role/InteropRole"


def config(endpoint, key_id=KEY_ID, secret=KEY_SECRET, token=None):
    cfg = open_api.Config(
        access_key_id=key_id,
        access_key_secret=secret,
        endpoint=endpoint,
        protocol="http",
        region_id=REGION,
    )
    if token:
        cfg.security_token = token
    return cfg


def client(endpoint, secret=KEY_SECRET, algorithm=None, key_id=KEY_ID, token=None):
    cfg = config(endpoint, key_id, secret, token)
    if algorithm:
        cfg.signature_algorithm = algorithm
    return Client(cfg)


def sts_client(endpoint, key_id=KEY_ID, secret=KEY_SECRET, token=None):
    return StsClient(config(endpoint, key_id, secret, token))


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
            callback_url="https://hooks.example.com/new?a=1&b=*(x)'~"))
        assert r.body.ret_code == 0
        b = describe(1)
        assert b.task_info.repeat_number == -1
        assert b.task_info.callback_url == "https://hooks.example.com/new?a=1&b=*(x)'~"

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

    def caller_identity_shapes():
        main = sts_client(endpoint, MAIN_ID, MAIN_SECRET).get_caller_identity().body
        assert main.account_id == ACCOUNT, main
        assert main.identity_type == "Account", main
        assert main.arn == f"acs:ram::{ACCOUNT}:root", main.arn
        assert main.user_id and main.principal_id and len(main.request_id) == 36, main
        ram = sts_client(endpoint, RAM_ID, RAM_SECRET).get_caller_identity().body
        assert ram.account_id == ACCOUNT and ram.identity_type == "RAMUser", ram
        assert ram.arn == f"acs:ram::{ACCOUNT}:user/{RAM_ID}", ram.arn
        other = sts_client(endpoint).get_caller_identity().body
        assert other.account_id != ACCOUNT and other.identity_type == "Account", other

    def two_keys_of_one_account_share_its_quota():
        main, ram, other = (client(endpoint, MAIN_SECRET, key_id=MAIN_ID),
                            client(endpoint, RAM_SECRET, key_id=RAM_ID), client(endpoint))
        req = live.DescribeLivePullToPushListRequest(region=REGION, page_size=1)
        for _ in range(5):  # a machine too slow for 11 calls within a second just tries again
            time.sleep(1.1)
            start = time.monotonic()
            try:
                for _ in range(10):
                    main.describe_live_pull_to_push_list(req)
            except ThrottlingException:
                continue
            try:
                ram.describe_live_pull_to_push_list(req)
                ram_throttled = False
            except ThrottlingException as e:
                assert e.code == "Throttling.User", e.code
                ram_throttled = True
            other.describe_live_pull_to_push_list(req)  # another account: its own quota
            if time.monotonic() - start > 0.9:
                continue
            assert ram_throttled, "the RAM user's call got past the account's full window"
            print("     the RAM user was throttled after 10 calls by the main key")
            return
        raise AssertionError("never managed 11 calls within one second")

    def assume_role_and_use_the_keys():
        r = sts_client(endpoint).assume_role(sts.AssumeRoleRequest(
            role_arn=ROLE_ARN, role_session_name="interop", duration_seconds=3600)).body
        c = r.credentials
        assert c.access_key_id.startswith("STS.") and c.access_key_secret and c.security_token, r
        exp = datetime.datetime.strptime(c.expiration, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc)
        assert r.assumed_role_user.arn == "acs:ram::5555000011112222:role/interoprole/interop", r
        assert r.assumed_role_user.assumed_role_id.endswith(":interop"), r
        temp = client(endpoint, c.access_key_secret, key_id=c.access_key_id, token=c.security_token)
        temp.describe_live_pull_to_push_list(live.DescribeLivePullToPushListRequest(region=REGION))
        who = sts_client(endpoint, c.access_key_id, c.access_key_secret, c.security_token)
        me = who.get_caller_identity().body
        assert me.identity_type == "AssumedRoleUser" and me.account_id == "5555000011112222", me
        state["temp"] = (temp, exp)

    def assume_role_with_oidc_anonymous():
        anon = StsClient(open_api.Config(endpoint=endpoint, protocol="http", region_id=REGION))
        import base64, json as _json
        enc = lambda d: base64.urlsafe_b64encode(_json.dumps(d).encode()).decode().rstrip("=")
        token = enc({"alg": "RS256"}) + "." + enc({"sub": "repo:org/app", "iss": "https://issuer", "aud": "sts"}) + ".sig"
        r = anon.assume_role_with_oidc(sts.AssumeRoleWithOIDCRequest(
            role_arn=ROLE_ARN, oidcprovider_arn="acs:ram::5555000011112222:oidc-provider/interop",
            oidctoken=token, role_session_name="oidc-interop")).body
        assert r.credentials.access_key_id.startswith("STS.") and r.credentials.expiration, r
        assert r.oidctoken_info.subject == "repo:org/app", r.oidctoken_info

    def expired_keys_refused():
        temp, exp = state["temp"]
        wait = (exp - datetime.datetime.now(datetime.timezone.utc)).total_seconds() + 1
        time.sleep(max(wait, 0))
        try:
            temp.describe_live_pull_to_push_list(live.DescribeLivePullToPushListRequest(region=REGION))
        except ClientException as e:
            assert e.code == "InvalidSecurityToken.Expired", e.code
            return
        raise AssertionError("expired temporary keys were accepted")

    check("STS GetCallerIdentity (account, RAM user, another account)", caller_identity_shapes)
    check("two keys of one account share its quota", two_keys_of_one_account_share_its_quota)
    check("STS AssumeRole; its keys sign Live calls", assume_role_and_use_the_keys)
    check("STS AssumeRoleWithOIDC (anonymous)", assume_role_with_oidc_anonymous)
    check("temporary keys refused once expired", expired_keys_refused)
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
