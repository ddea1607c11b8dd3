//! The client against real HTTP on loopback: every request's V3 signature is checked by the
//! server, and every kind of failure must come back as a typed error, never a panic.

use std::sync::Arc;
use std::time::Duration;

use crate::support::server::{Reply, TestServer, raw_server, read_head, task, write_all};
use livebatch::api::client::{Client, ClientConfig, Clock, CreateRequest, ListQuery, NonceSource};
use livebatch::api::credentials::{Credentials, Secret};
use livebatch::api::endpoint::Endpoint;
use livebatch::api::error::{ApiError, ErrorClass, TransportKind};
use livebatch::model::{ApiTime, Region, SourceType, Update};
use serde_json::json;

const SECRET: &str = "test-secret-Zq9";

fn client_for(url: &str) -> Client {
    client_with(
        url,
        Credentials::new("LTAItestid", SECRET),
        Duration::from_secs(10),
    )
}

fn client_with(url: &str, credentials: Credentials, read_timeout: Duration) -> Client {
    Client::new(ClientConfig {
        endpoint: Endpoint::parse(url).unwrap(),
        credentials,
        connect_timeout: Duration::from_secs(5),
        read_timeout,
    })
    .unwrap()
}

fn transport_kind(e: &ApiError) -> Option<TransportKind> {
    match e {
        ApiError::Transport { kind, .. } => Some(*kind),
        _ => None,
    }
}

#[tokio::test]
async fn lists_all_pages() {
    let tasks: Vec<_> = (0..250).map(|i| task(i, 0)).collect();
    let server = TestServer::start(SECRET, crate::support::server::list_handler(tasks.clone()));
    let client = client_for(&server.url());
    let mut pages = 0;
    let all = client
        .describe_list_all_with(&ListQuery::new(Region::CnShanghai), |_| pages += 1)
        .await
        .unwrap();
    assert_eq!(all, tasks);
    assert_eq!(pages, 3);
    server.assert_all_signed();
    let recs = server.recorded();
    let page_numbers: Vec<_> = recs
        .iter()
        .map(|r| r.param("PageNumber").unwrap().to_string())
        .collect();
    assert_eq!(page_numbers, ["1", "2", "3"]);
    assert!(recs.iter().all(|r| r.param("PageSize") == Some("100")));
    assert!(
        recs.iter()
            .all(|r| r.param("Region") == Some("cn-shanghai"))
    );
    assert!(recs.iter().all(|r| r.path == "/"));
}

#[tokio::test]
async fn list_filters_are_sent_and_an_empty_account_is_one_call() {
    let server = TestServer::start(
        SECRET,
        crate::support::server::list_handler((0..30).map(|i| task(i, 1)).collect()),
    );
    let client = client_for(&server.url());
    let mut q = ListQuery::new(Region::CnBeijing);
    q.task_id = Some("task-001".into());
    let got = client.describe_list_all(&q).await.unwrap();
    assert_eq!(got.len(), 10, "task-0010..task-0019");
    q.task_id = Some("nothing-matches".into());
    assert!(client.describe_list_all(&q).await.unwrap().is_empty());
    let recs = server.recorded();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].param("TaskId"), Some("task-001"));
    server.assert_all_signed();
}

#[tokio::test]
async fn a_lying_total_does_not_loop_forever() {
    // Total says 1000 but every page returns the same 100 tasks: stop after Total/100 pages.
    let server = TestServer::start(SECRET, |_r: &crate::support::server::Recorded| {
        let list: Vec<_> = (0..100).map(|i| task(i, 0)).collect();
        Reply::json(
            200,
            json!({"RequestId": "r", "PageNumber": 1, "PageSize": 100, "Total": 1000, "TaskList": list}),
        )
    });
    let got = client_for(&server.url())
        .describe_list_all(&ListQuery::new(Region::CnShanghai))
        .await
        .unwrap();
    assert_eq!(got.len(), 1000);
    assert_eq!(server.recorded().len(), 10);
}

#[tokio::test]
async fn update_sends_exactly_what_it_signs_including_awkward_characters() {
    let server = TestServer::start(SECRET, |_r: &crate::support::server::Recorded| {
        Reply::json(
            200,
            json!({"RequestId": "req-u", "RetCode": 0, "Description": "OK"}),
        )
    });
    let client = client_for(&server.url());
    let mut u = Update::new("fd245384-4067-4f91-9d75-9666a6bc0000", Region::CnShanghai);
    let callback = "https://callback.example.com/notify?a=1 b*&c=ünïcødé/€~_.-+%20";
    u.callback_url = Some(callback.into());
    u.source_urls = Some(vec![
        "rtmp://pull.example.com/app/s?k=v&x=y".into(),
        "rtmp://b/c".into(),
    ]);
    u.repeat_number = Some(-1);
    u.end_time = Some(ApiTime::parse("2030-01-02T03:04:05Z").unwrap());
    let r = client.update(&u).await.unwrap();
    assert_eq!(r.request_id, "req-u");
    server.assert_all_signed();
    let rec = &server.recorded()[0];
    assert_eq!(rec.action(), "UpdateLivePullToPush");
    assert_eq!(rec.header("x-acs-version"), Some("2016-11-01"));
    assert_eq!(rec.param("CallbackUrl"), Some(callback));
    assert_eq!(
        rec.param("SourceUrls"),
        Some(r#"["rtmp://pull.example.com/app/s?k=v&x=y","rtmp://b/c"]"#)
    );
    assert_eq!(rec.param("RepeatNumber"), Some("-1"));
    let sent: Vec<(String, String)> = u
        .to_params()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let mut received = rec.params.clone();
    received.sort();
    assert_eq!(received, sent);
}

#[tokio::test]
async fn a_wrong_secret_is_detected_by_the_server_check() {
    // Guards the guard: the server's verification must actually reject a bad signature.
    let server = TestServer::start("another-secret", |_r: &crate::support::server::Recorded| {
        Reply::json(200, json!({"RequestId": "r", "RetCode": 0}))
    });
    client_for(&server.url())
        .delete("t1", Region::CnBeijing)
        .await
        .unwrap();
    assert!(server.recorded()[0].signature.is_err());
}

struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        ApiTime::parse("2031-05-06T07:08:09Z").unwrap().0
    }
}

struct CountingNonce(std::sync::atomic::AtomicU32);
impl NonceSource for CountingNonce {
    fn nonce(&self) -> String {
        format!(
            "nonce-{}",
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        )
    }
}

#[tokio::test]
async fn every_call_is_signed_afresh_with_the_injected_clock_and_nonces() {
    let server = TestServer::start(SECRET, |_r: &crate::support::server::Recorded| {
        Reply::json(200, json!({"RequestId": "r", "TaskId": "t"}))
    });
    let client = Client::builder(ClientConfig {
        endpoint: Endpoint::parse(&server.url()).unwrap(),
        credentials: Credentials::new("id", SECRET),
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(10),
    })
    .clock(Arc::new(FixedClock))
    .nonces(Arc::new(CountingNonce(Default::default())))
    .build()
    .unwrap();
    client.stop("t", Region::CnShanghai).await.unwrap();
    client.stop("t", Region::CnShanghai).await.unwrap();
    server.assert_all_signed();
    let recs = server.recorded();
    assert_eq!(recs[0].header("x-acs-date"), Some("2031-05-06T07:08:09Z"));
    assert_eq!(recs[0].header("x-acs-signature-nonce"), Some("nonce-0"));
    assert_eq!(recs[1].header("x-acs-signature-nonce"), Some("nonce-1"));
    assert_ne!(
        recs[0].header("authorization"),
        recs[1].header("authorization")
    );
}

#[tokio::test]
async fn default_nonces_differ_between_calls() {
    let server = TestServer::start(SECRET, |_r: &crate::support::server::Recorded| {
        Reply::json(200, json!({"RequestId": "r", "TaskId": "t"}))
    });
    let client = client_for(&server.url());
    client.restart("t", Region::CnShanghai).await.unwrap();
    client.restart("t", Region::CnShanghai).await.unwrap();
    let recs = server.recorded();
    assert_ne!(
        recs[0].header("x-acs-signature-nonce"),
        recs[1].header("x-acs-signature-nonce")
    );
}

#[tokio::test]
async fn sts_token_is_sent_and_signed() {
    let server = TestServer::start(SECRET, |_r: &crate::support::server::Recorded| {
        Reply::json(200, json!({"RequestId": "r", "RetCode": 0}))
    });
    let mut creds = Credentials::new("STS.abc", SECRET);
    creds.security_token = Some(Secret::new("the-sts-token"));
    client_with(&server.url(), creds, Duration::from_secs(10))
        .delete("t1", Region::CnShanghai)
        .await
        .unwrap();
    server.assert_all_signed();
    let rec = &server.recorded()[0];
    assert_eq!(rec.header("x-acs-security-token"), Some("the-sts-token"));
    assert_eq!(rec.header("x-acs-accesskey-id"), Some("STS.abc"));
    assert!(
        rec.header("authorization")
            .unwrap()
            .contains("x-acs-security-token")
    );
}

#[tokio::test]
async fn typed_operations_send_their_action_and_parse_their_answer() {
    let server = TestServer::start(SECRET, |r: &crate::support::server::Recorded| {
        match r.action() {
            "DescribeLivePullToPush" => Reply::json(
                200,
                json!({
                    "RequestId": "r", "RetCode": 0, "Description": "OK", "TaskId": "t9", "TaskStatus": 3,
                    "TaskInvalidReason": "PullStreamFailed",
                    "TaskInfo": {"TaskId": "t9", "SourceType": "live", "SourceUrls": ["rtmp://a/b"],
                                 "CallbackURL": "https://cb/x", "StartTime": "2030-01-01T00:00:00Z"}
                }),
            ),
            "CreateLivePullToPush" => Reply::json(
                200,
                json!({"RequestId": "r", "TaskId": "new-id", "RetCode": 0, "Description": "OK"}),
            ),
            "DeleteLivePullToPush" => Reply::json(
                200,
                json!({"RequestId": "r", "RetCode": 0, "Description": "OK"}),
            ),
            _ => Reply::json(200, json!({"RequestId": "r", "TaskId": r.param("TaskId")})),
        }
    });
    let c = client_for(&server.url());
    let d = c.describe("t9", Region::ApSoutheast1).await.unwrap();
    assert_eq!(d.task_status, 3);
    assert_eq!(d.task_info.callback_url, "https://cb/x");
    assert_eq!(d.task_invalid_reason, "PullStreamFailed");
    assert_eq!(
        c.stop("t9", Region::ApSoutheast1).await.unwrap().task_id,
        "t9"
    );
    assert_eq!(
        c.restart("t9", Region::ApSoutheast1).await.unwrap().task_id,
        "t9"
    );
    assert_eq!(
        c.delete("t9", Region::ApSoutheast1).await.unwrap().ret_code,
        0
    );
    let id = c
        .create(&CreateRequest {
            region: Region::CnShanghai,
            source_type: SourceType::Live,
            source_urls: vec!["rtmp://src/app/s".into()],
            source_protocol: Some("rtmp".into()),
            dst_url: "rtmp://dst/app/s".into(),
            start_time: ApiTime::parse("2030-01-01T00:00:00Z").unwrap(),
            end_time: ApiTime::parse("2030-01-02T00:00:00Z").unwrap(),
            task_name: Some("my task".into()),
            callback_url: None,
            repeat_number: None,
            offset: None,
            file_index: None,
            retry_count: Some(3),
            retry_interval: None,
        })
        .await
        .unwrap();
    assert_eq!(id, "new-id");
    server.assert_all_signed();
    let actions: Vec<String> = server
        .recorded()
        .iter()
        .map(|r| r.action().to_string())
        .collect();
    assert_eq!(
        actions,
        [
            "DescribeLivePullToPush",
            "StopLivePullToPush",
            "RestartLivePullToPush",
            "DeleteLivePullToPush",
            "CreateLivePullToPush"
        ]
    );
    let create = &server.recorded()[4];
    assert_eq!(create.param("SourceUrls"), Some(r#"["rtmp://src/app/s"]"#));
    assert_eq!(create.param("TaskName"), Some("my task"));
    assert_eq!(server.recorded()[0].param("Region"), Some("ap-southeast-1"));
}

#[tokio::test]
async fn each_error_class_keeps_everything_the_service_said() {
    let cases: Vec<(Reply, ErrorClass, &str)> = vec![
        (
            Reply::error(
                400,
                "Throttling.User",
                "Request was denied due to user flow control.",
            )
            .with_header("x-acs-retry-after", "1500"),
            ErrorClass::Throttled,
            "Throttling.User",
        ),
        (
            Reply::error(400, "Whatever", "x").with_header("x-acs-retry-after", "20"),
            ErrorClass::Throttled,
            "Whatever",
        ),
        (
            Reply::error(503, "ServiceUnavailable", "busy"),
            ErrorClass::Transient,
            "ServiceUnavailable",
        ),
        (
            Reply::error(500, "InternalError", "oops"),
            ErrorClass::Transient,
            "InternalError",
        ),
        (
            Reply::error(400, "InvalidParameter", "bad"),
            ErrorClass::Permanent,
            "InvalidParameter",
        ),
        (
            Reply::error(400, "CodeTaskNotExist", "no task"),
            ErrorClass::Permanent,
            "CodeTaskNotExist",
        ),
        (
            Reply::error(404, "InvalidAccessKeyId.NotFound", "no key"),
            ErrorClass::Systemic,
            "InvalidAccessKeyId.NotFound",
        ),
        (
            Reply::error(400, "SignatureDoesNotMatch", "sig"),
            ErrorClass::Systemic,
            "SignatureDoesNotMatch",
        ),
        (
            Reply::error(403, "Forbidden.RAM", "no perm"),
            ErrorClass::Systemic,
            "Forbidden.RAM",
        ),
    ];
    for (reply, class, code) in cases {
        let status = reply.status;
        let retry = reply
            .headers
            .iter()
            .find(|h| h.0 == "x-acs-retry-after")
            .map(|h| h.1.clone());
        let server = TestServer::start(SECRET, move |_r: &crate::support::server::Recorded| {
            reply.clone()
        });
        let e = client_for(&server.url())
            .update(&Update::new("t1", Region::CnShanghai))
            .await
            .unwrap_err();
        assert_eq!(e.class(), class, "{code}: {e}");
        match &e {
            ApiError::Service {
                http_status,
                code: c,
                request_id,
                host_id,
                recommend,
                retry_after,
                message,
            } => {
                assert_eq!(*http_status, status);
                assert_eq!(c, code);
                assert_eq!(request_id, "req-err-1");
                assert_eq!(host_id, "live.aliyuncs.com");
                assert!(recommend.starts_with("https://api.aliyun.com/"));
                assert!(!message.is_empty());
                assert_eq!(
                    *retry_after,
                    retry
                        .as_deref()
                        .map(|ms| Duration::from_millis(ms.parse().unwrap()))
                );
            }
            other => panic!("expected a service error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn retcode_not_zero_is_a_failure() {
    let server = TestServer::start(SECRET, |_r: &crate::support::server::Recorded| {
        Reply::json(
            200,
            json!({"RequestId": "req-rc", "RetCode": 1, "Description": "update refused"}),
        )
    });
    let e = client_for(&server.url())
        .update(&Update::new("t1", Region::CnShanghai))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "RetCode.1");
    assert_eq!(e.request_id(), Some("req-rc"));
    assert_eq!(e.message(), "update refused");
}

#[tokio::test]
async fn malformed_bodies_are_typed_errors() {
    let bodies: Vec<Reply> = vec![
        Reply::raw(200, "<html>hello</html>"),
        Reply::raw(200, ""),
        Reply::raw(200, "[1,2,3]"),
        Reply::raw(200, "{\"RequestId\": \"r\", \"TaskList\": "),
        Reply::raw(502, "<html>Bad Gateway</html>"),
        Reply::raw(200, vec![0xff, 0xfe, 0x00]),
        // Valid JSON, wrong shape: TaskList is not a list.
        Reply::json(
            200,
            json!({"RequestId": "r", "TaskList": "nope", "Total": 1}),
        ),
    ];
    for reply in bodies {
        let shown = String::from_utf8_lossy(&reply.body).to_string();
        let server = TestServer::start(SECRET, move |_r: &crate::support::server::Recorded| {
            reply.clone()
        });
        let e = client_for(&server.url())
            .describe_list_page(&ListQuery::new(Region::CnShanghai), 1, 10)
            .await
            .unwrap_err();
        assert_eq!(
            transport_kind(&e),
            Some(TransportKind::Malformed),
            "{shown}: {e:?}"
        );
        assert!(e.message().contains("DescribeLivePullToPushList"), "{e}");
    }
}

#[tokio::test]
async fn oversized_body_with_content_length_is_refused() {
    let big = vec![b' '; 9 << 20];
    let server = TestServer::start(SECRET, move |_r: &crate::support::server::Recorded| {
        Reply::raw(200, big.clone())
    });
    let e = client_for(&server.url())
        .describe("t", Region::CnShanghai)
        .await
        .unwrap_err();
    assert_eq!(transport_kind(&e), Some(TransportKind::Malformed), "{e:?}");
    assert!(e.message().contains("limit"), "{e}");
}

#[tokio::test]
async fn oversized_chunked_body_is_cut_off_while_streaming() {
    // No Content-Length: the client must stop reading at the limit, not buffer an endless body.
    let addr = raw_server(|mut s| {
        read_head(&mut s);
        write_all(&mut s, b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n");
        let chunk = vec![b' '; 64 * 1024];
        let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
        frame.extend_from_slice(&chunk);
        frame.extend_from_slice(b"\r\n");
        for _ in 0..1024 {
            use std::io::Write;
            if s.write_all(&frame).is_err() {
                return;
            }
        }
    });
    let client = Client::builder(ClientConfig {
        endpoint: Endpoint::parse(&format!("http://{addr}")).unwrap(),
        credentials: Credentials::new("id", SECRET),
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(10),
    })
    .max_body(256 * 1024)
    .build()
    .unwrap();
    let e = client.describe("t", Region::CnShanghai).await.unwrap_err();
    assert_eq!(transport_kind(&e), Some(TransportKind::Malformed), "{e:?}");
}

#[tokio::test]
async fn a_server_that_hangs_times_out() {
    let addr = raw_server(|mut s| {
        read_head(&mut s);
        std::thread::sleep(Duration::from_secs(20));
        drop(s);
    });
    let client = client_with(
        &format!("http://{addr}"),
        Credentials::new("id", SECRET),
        Duration::from_millis(300),
    );
    let e = client.describe("t", Region::CnShanghai).await.unwrap_err();
    assert_eq!(transport_kind(&e), Some(TransportKind::Timeout), "{e:?}");
    assert_eq!(e.class(), ErrorClass::Transient);
}

#[tokio::test]
async fn a_server_that_stalls_mid_body_times_out() {
    let addr = raw_server(|mut s| {
        read_head(&mut s);
        write_all(
            &mut s,
            b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"RequestId\"",
        );
        std::thread::sleep(Duration::from_secs(20));
    });
    let client = client_with(
        &format!("http://{addr}"),
        Credentials::new("id", SECRET),
        Duration::from_millis(300),
    );
    let e = client.describe("t", Region::CnShanghai).await.unwrap_err();
    assert_eq!(transport_kind(&e), Some(TransportKind::Timeout), "{e:?}");
}

#[tokio::test]
async fn a_server_that_closes_mid_response_is_a_reset() {
    let addr = raw_server(|mut s| {
        read_head(&mut s);
        write_all(
            &mut s,
            b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n{\"RequestId\": \"r\", \"Ret",
        );
        let _ = s.shutdown(std::net::Shutdown::Both);
    });
    let e = client_for(&format!("http://{addr}"))
        .update(&Update::new("t", Region::CnShanghai))
        .await
        .unwrap_err();
    assert_eq!(transport_kind(&e), Some(TransportKind::Reset), "{e:?}");
    assert_eq!(e.class(), ErrorClass::Transient);
}

#[tokio::test]
async fn a_server_that_closes_before_answering_is_a_reset() {
    let addr = raw_server(|mut s| {
        read_head(&mut s);
        let _ = s.shutdown(std::net::Shutdown::Both);
    });
    let e = client_for(&format!("http://{addr}"))
        .update(&Update::new("t", Region::CnShanghai))
        .await
        .unwrap_err();
    assert_eq!(transport_kind(&e), Some(TransportKind::Reset), "{e:?}");
}

#[tokio::test]
async fn garbage_instead_of_http_is_a_typed_error() {
    let addr = raw_server(|mut s| {
        read_head(&mut s);
        write_all(&mut s, b"SSH-2.0-OpenSSH_9.6\r\n\r\n");
        let _ = s.shutdown(std::net::Shutdown::Both);
    });
    let e = client_for(&format!("http://{addr}"))
        .describe("t", Region::CnShanghai)
        .await
        .unwrap_err();
    assert!(
        matches!(
            transport_kind(&e),
            Some(TransportKind::Malformed | TransportKind::Reset | TransportKind::Other)
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn connection_refused_is_a_connect_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = client_for(&format!("http://127.0.0.1:{port}"))
        .describe("t", Region::CnShanghai)
        .await
        .unwrap_err();
    assert_eq!(transport_kind(&e), Some(TransportKind::Connect), "{e:?}");
    assert_eq!(e.class(), ErrorClass::Transient);
    assert!(
        !e.message().contains("SourceUrls"),
        "no URL/query in messages: {e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_serves_many_concurrent_tasks() {
    let server = TestServer::start(SECRET, |r: &crate::support::server::Recorded| {
        Reply::json(
            200,
            json!({"RequestId": "r", "TaskId": r.param("TaskId"), "TaskStatus": 1}),
        )
    });
    let client = client_for(&server.url());
    let mut handles = Vec::new();
    for i in 0..40 {
        let c = client.clone();
        handles.push(tokio::spawn(async move {
            c.describe(&format!("task-{i}"), Region::CnShanghai).await
        }));
    }
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.await.unwrap().unwrap().task_id, format!("task-{i}"));
    }
    server.assert_all_signed();
    let mut nonces: Vec<String> = server
        .recorded()
        .iter()
        .map(|r| r.header("x-acs-signature-nonce").unwrap().to_string())
        .collect();
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), 40);
}

#[test]
fn client_debug_shows_no_secret() {
    let mut creds = Credentials::new("LTAIshown", "hidden-secret-value");
    creds.security_token = Some(Secret::new("hidden-token-value"));
    let c = client_with("http://127.0.0.1:1", creds, Duration::from_secs(1));
    let shown = format!("{c:?}");
    assert!(shown.contains("LTAIshown"));
    assert!(!shown.contains("hidden-secret-value") && !shown.contains("hidden-token-value"));
}

#[tokio::test]
async fn caller_identity_is_a_signed_sts_call_on_the_same_endpoint() {
    let server = TestServer::start(SECRET, |r: &crate::support::server::Recorded| {
        Reply::json(
            200,
            json!({"RequestId": "r-1", "AccountId": "1234567890123456", "UserId": "2",
                   "Arn": "acs:ram::1234567890123456:user/ci", "IdentityType": "RAMUser",
                   "PrincipalId": "2", "Echo": r.action()}),
        )
    });
    let id = client_for(&server.url()).caller_identity().await.unwrap();
    assert_eq!(id.account_id, "1234567890123456");
    assert_eq!(id.identity_type, "RAMUser");
    server.assert_all_signed();
    let recs = server.recorded();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].action(), "GetCallerIdentity");
    assert_eq!(recs[0].header("x-acs-version"), Some("2015-04-01"));
}

#[tokio::test]
async fn a_static_token_refused_as_expired_is_not_resent() {
    // Static credentials cannot be refreshed: the expiry reaches the caller, once.
    let server = TestServer::start(SECRET, |_: &crate::support::server::Recorded| {
        Reply::error(
            400,
            "InvalidSecurityToken.Expired",
            "Specified SecurityToken is expired.",
        )
    });
    let mut creds = Credentials::new("STS.x", SECRET);
    creds.security_token = Some(Secret::new("token"));
    let c = client_with(&server.url(), creds, Duration::from_secs(10));
    let e = c.describe("t", Region::CnShanghai).await.unwrap_err();
    assert_eq!(e.code(), "InvalidSecurityToken.Expired");
    assert_eq!(e.class(), ErrorClass::Systemic);
    assert_eq!(server.recorded().len(), 1);
    assert_eq!(c.credential_refreshes(), 0);
}
