//! A small HTTP server for client tests, on 127.0.0.1 port 0, in its own thread and runtime so
//! both async tests and `assert_cmd` tests can use it. It verifies the V3 signature of every
//! request it receives with the library's own canonical forms and the SignedHeaders the request
//! names, so a test proves that the bytes sent are the bytes signed.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use livebatch::api::models::{ListResponse, TaskInfo, TaskState};
use livebatch::api::sign;

/// What the server saw of one request.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub raw_query: String,
    pub params: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    /// `Ok` when the V3 signature checks out against the server's secret.
    pub signature: Result<(), String>,
}

impl Recorded {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn action(&self) -> &str {
        self.header("x-acs-action").unwrap_or("")
    }
}

/// The server's answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: u16, v: serde_json::Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(&v).unwrap(),
        }
    }

    pub fn raw(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            headers: vec![],
            body: body.into(),
        }
    }

    pub fn error(status: u16, code: &str, message: &str) -> Reply {
        Reply::json(
            status,
            serde_json::json!({
                "RequestId": "req-err-1", "HostId": "live.aliyuncs.com", "Code": code,
                "Message": message, "Recommend": "https://api.aliyun.com/troubleshoot?q=x"
            }),
        )
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }
}

pub type Handler = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

pub struct TestServer {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server that checks signatures with `secret` and answers with `handler`.
    pub fn start(
        secret: &str,
        handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let handler: Handler = Arc::new(handler);
        let secret = secret.to_string();
        let reqs = requests.clone();
        let thread = thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    tokio::select! {
                        _ = &mut rx => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let (handler, secret, reqs) = (handler.clone(), secret.clone(), reqs.clone());
                            tokio::spawn(async move {
                                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                                    let (handler, secret, reqs) = (handler.clone(), secret.clone(), reqs.clone());
                                    async move {
                                        let rec = record(req, &secret).await;
                                        let reply = handler(&rec);
                                        reqs.lock().unwrap().push(rec);
                                        let mut b = hyper::Response::builder().status(reply.status);
                                        for (n, v) in &reply.headers {
                                            b = b.header(n.as_str(), v.as_str());
                                        }
                                        Ok::<_, std::convert::Infallible>(b.body(Full::new(Bytes::from(reply.body))).unwrap())
                                    }
                                });
                                let _ = hyper::server::conn::http1::Builder::new()
                                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                                    .await;
                            });
                        }
                    }
                }
            });
        });
        TestServer {
            addr,
            requests,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn recorded(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// Panics with the reason if any request's signature did not verify.
    pub fn assert_all_signed(&self) {
        let recs = self.recorded();
        assert!(!recs.is_empty(), "the server received no request");
        for r in recs {
            if let Err(e) = &r.signature {
                panic!("bad signature on {} {}: {e}", r.action(), r.raw_query);
            }
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn record(req: hyper::Request<hyper::body::Incoming>, secret: &str) -> Recorded {
    use http_body_util::BodyExt;
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                v.to_str().unwrap_or("<non-ascii>").to_string(),
            )
        })
        .collect();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let params = sign::parse_query(&raw_query, false).unwrap_or_default();
    let signature = verify(&method, &path, &raw_query, &params, &headers, &body, secret);
    Recorded {
        path,
        raw_query,
        params,
        headers,
        signature,
    }
}

fn verify(
    method: &str,
    path: &str,
    raw_query: &str,
    params: &[(String, String)],
    headers: &[(String, String)],
    body: &[u8],
    secret: &str,
) -> Result<(), String> {
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    let auth = get("authorization").ok_or("no Authorization header")?;
    let parsed = sign::parse_v3_authorization(auth).ok_or("unparseable Authorization")?;
    if method != "GET" || !body.is_empty() {
        return Err(format!(
            "expected GET with an empty body, got {method} with {} bytes",
            body.len()
        ));
    }
    if raw_query != sign::canonical_query(params) {
        return Err("the query sent is not in canonical form".into());
    }
    if get("x-acs-content-sha256") != Some(sign::EMPTY_SHA256) {
        return Err("x-acs-content-sha256 is not the empty-body hash".into());
    }
    for (n, _) in headers {
        if n.starts_with("x-acs-") && !parsed.signed_headers.iter().any(|s| s == n) {
            return Err(format!("header {n} is sent but not signed"));
        }
    }
    if !parsed.signed_headers.iter().any(|s| s == "host") {
        return Err("host is not signed".into());
    }
    let req = sign::V3Request {
        method,
        path,
        query: params,
        headers,
        payload_sha256: sign::EMPTY_SHA256,
    };
    let (canonical, signed) =
        sign::v3_canonical_request(&req, |n| parsed.signed_headers.iter().any(|s| s == n));
    if signed.split(';').collect::<Vec<_>>() != parsed.signed_headers {
        return Err(format!(
            "SignedHeaders {:?} do not match the headers present ({signed})",
            parsed.signed_headers
        ));
    }
    let expected = sign::v3_signature(secret, &canonical);
    if !sign::constant_time_eq(&expected, &parsed.signature) {
        return Err(format!(
            "signature mismatch; canonical request was:\n{canonical}"
        ));
    }
    Ok(())
}

/// A task as the list and describe operations return it.
pub fn task(i: usize, status: i32) -> TaskState {
    TaskState {
        task_id: format!("task-{i:04}"),
        task_status: status,
        task_info: TaskInfo {
            task_id: format!("task-{i:04}"),
            task_name: format!("name {i}"),
            source_type: "url".into(),
            source_protocol: String::new(),
            source_urls: vec![format!("https://media.example.com/v/{i}.mp4")],
            dst_url: format!("rtmp://push.example.com/live/s{i}"),
            start_time: "2030-01-01T00:00:00Z".into(),
            end_time: "2030-01-03T00:00:00Z".into(),
            callback_url: String::new(),
            repeat_number: 0,
            offset: 0,
            file_index: 0,
            retry_count: 3,
            retry_interval: 60,
        },
        ..Default::default()
    }
}

/// A handler that serves `DescribeLivePullToPushList` over `tasks` (TaskId filter: substring),
/// and an error for anything else.
pub fn list_handler(tasks: Vec<TaskState>) -> impl Fn(&Recorded) -> Reply + Send + Sync + 'static {
    move |r: &Recorded| {
        if r.action() != "DescribeLivePullToPushList" {
            return Reply::error(400, "InvalidAction", "not served by this test server");
        }
        let page: usize = r
            .param("PageNumber")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1);
        let size: usize = r
            .param("PageSize")
            .and_then(|p| p.parse().ok())
            .unwrap_or(10);
        let filter = r.param("TaskId").unwrap_or("");
        let matching: Vec<&TaskState> = tasks
            .iter()
            .filter(|t| t.task_id.contains(filter))
            .collect();
        let list: Vec<TaskState> = matching
            .iter()
            .skip((page.max(1) - 1) * size)
            .take(size)
            .map(|t| (*t).clone())
            .collect();
        let resp = ListResponse {
            request_id: format!("req-list-{page}"),
            page_number: page as u32,
            page_size: size as u32,
            total: matching.len() as u64,
            task_list: list,
        };
        Reply::json(200, serde_json::to_value(resp).unwrap())
    }
}

/// A raw TCP server whose every connection is handed to `behave` in its own thread; for
/// misbehaving peers (hang, close mid-response, chunked floods) that a proper server won't be.
pub fn raw_server(behave: impl Fn(TcpStream) + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let behave = Arc::new(behave);
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let b = behave.clone();
            thread::spawn(move || b(stream));
        }
    });
    addr
}

/// Reads the request head (up to the blank line) so the client is done sending.
pub fn read_head(s: &mut TcpStream) {
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return,
        }
    }
}

pub fn write_all(s: &mut TcpStream, data: &[u8]) {
    let _ = s.write_all(data);
    let _ = s.flush();
}
