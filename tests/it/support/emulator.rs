//! The emulator for tests: [`Emu`], one started in-process on 127.0.0.1 port 0 and stopped when
//! dropped (for tests that drive the binary against it), and a tiny signed-request helper (the
//! real client lives elsewhere): V3 over GET or POST-form, and V2, signed with
//! `livebatch::api::sign` exactly as the wire carries them.

use livebatch::api::sign;
use livebatch::emulator::{
    Clock, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, Emulator, EmulatorConfig,
    EmulatorHandle, FaultConfig, SeedTask,
};
use serde_json::Value;

/// An emulator listening on 127.0.0.1 port 0 (its address: [`EmulatorHandle::url`]), served by
/// its own runtime so a synchronous test can run the binary against it; shut down when dropped.
/// Derefs to its [`EmulatorHandle`] (`url`, `stats`, `tasks`, …).
pub struct Emu {
    rt: tokio::runtime::Runtime,
    handle: Option<EmulatorHandle>,
}

impl Emu {
    /// Starts an emulator as `config` says (its default listen address is 127.0.0.1:0).
    pub fn start(config: EmulatorConfig) -> Emu {
        // One worker serves a test's calls (all async); the test binary runs many tests at once
        // on a machine with few cores.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let handle = rt.block_on(Emulator::start(config)).unwrap();
        Emu {
            rt,
            handle: Some(handle),
        }
    }

    /// The shape most tests want: `seed` tasks, a quota of `qps` per operation (0: none), and
    /// each answer delayed by a random `latency_ms` range if given.
    pub fn seeded(qps: u32, latency_ms: Option<(u64, u64)>, seed: Vec<SeedTask>) -> Emu {
        Emu::start(EmulatorConfig {
            qps,
            faults: FaultConfig {
                latency_ms,
                ..FaultConfig::default()
            },
            seed,
            ..EmulatorConfig::default()
        })
    }

    /// Runs `f` on the emulator's runtime (for a test's own async calls to it).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// The task `id` as the emulator holds it now.
    pub fn task(&self, id: &str) -> SeedTask {
        self.tasks()
            .into_iter()
            .find(|t| t.task_id == id)
            .unwrap_or_else(|| panic!("the emulator holds no task {id}"))
    }

    /// Calls of `action` the emulator answered, whatever the answer.
    pub fn calls(&self, action: &str) -> u64 {
        self.stats()
            .operations
            .get(action)
            .map_or(0, |m| m.values().sum())
    }

    /// Updates the emulator accepted.
    pub fn ok_updates(&self) -> u64 {
        self.stats().count("UpdateLivePullToPush", "ok")
    }
}

impl std::ops::Deref for Emu {
    type Target = EmulatorHandle;

    fn deref(&self) -> &EmulatorHandle {
        self.handle
            .as_ref()
            .expect("the emulator runs until dropped")
    }
}

impl Drop for Emu {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = self.rt.block_on(h.shutdown());
        }
    }
}

pub struct Signer {
    pub http: reqwest::Client,
    pub base: String,
    pub host: String,
    pub id: String,
    pub secret: String,
    pub clock: Clock,
    pub counter: std::sync::atomic::AtomicU64,
    /// Extra headers signed into V3 requests (e.g. an STS token).
    pub extra: Vec<(String, String)>,
}

pub struct Reply {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["Code"].as_str().unwrap_or("")
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum How {
    Get,
    PostForm,
    V2,
}

impl Signer {
    pub fn new(url: &str, clock: Clock) -> Signer {
        Signer {
            http: reqwest::Client::builder().build().unwrap(),
            base: url.to_string(),
            host: url.trim_start_matches("http://").to_string(),
            id: DEFAULT_ACCESS_KEY_ID.into(),
            secret: DEFAULT_ACCESS_KEY_SECRET.into(),
            clock,
            counter: Default::default(),
            extra: Vec::new(),
        }
    }

    pub fn nonce(&self) -> String {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{:016x}{:016x}", rand::random::<u64>(), n)
    }

    pub async fn call(&self, action: &str, params: &[(&str, &str)]) -> Reply {
        self.call_how(How::Get, action, params).await
    }

    pub async fn call_how(&self, how: How, action: &str, params: &[(&str, &str)]) -> Reply {
        let date = self.clock.now().to_string();
        let nonce = self.nonce();
        self.send(how, action, params, &date, &nonce, &self.secret)
            .await
    }

    /// Sends with every signing input chosen by the caller (for stale dates, replays, bad keys).
    pub async fn send(
        &self,
        how: How,
        action: &str,
        params: &[(&str, &str)],
        date: &str,
        nonce: &str,
        secret: &str,
    ) -> Reply {
        let owned: Vec<(String, String)> = params
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let resp = match how {
            How::V2 => {
                let mut p = owned.clone();
                for (k, v) in [
                    ("Action", action),
                    ("Version", "2016-11-01"),
                    ("Format", "JSON"),
                    ("AccessKeyId", self.id.as_str()),
                    ("SignatureMethod", "HMAC-SHA1"),
                    ("SignatureVersion", "1.0"),
                    ("SignatureNonce", nonce),
                    ("Timestamp", date),
                ] {
                    p.push((k.into(), v.into()));
                }
                let sig = sign::v2_signature(secret, &sign::v2_string_to_sign("GET", &p));
                p.push(("Signature".into(), sig));
                let url = format!("{}/?{}", self.base, sign::canonical_query(&p));
                self.http.get(url).send().await
            }
            How::Get | How::PostForm => {
                let (method, query, body, ctype) = if how == How::Get {
                    ("GET", owned.clone(), String::new(), None)
                } else {
                    (
                        "POST",
                        Vec::new(),
                        sign::canonical_query(&owned),
                        Some("application/x-www-form-urlencoded"),
                    )
                };
                let payload = sign::sha256_hex(body.as_bytes());
                let mut headers = vec![
                    ("host".to_string(), self.host.clone()),
                    ("x-acs-action".into(), action.into()),
                    ("x-acs-version".into(), "2016-11-01".into()),
                    ("x-acs-date".into(), date.into()),
                    ("x-acs-signature-nonce".into(), nonce.into()),
                    ("x-acs-content-sha256".into(), payload.clone()),
                ];
                headers.extend(self.extra.iter().cloned());
                if let Some(c) = ctype {
                    headers.push(("content-type".into(), c.into()));
                }
                let req = sign::V3Request {
                    method,
                    path: "/",
                    query: &query,
                    headers: &headers,
                    payload_sha256: &payload,
                };
                let auth = sign::v3_authorization(&req, &self.id, secret);
                let q = sign::canonical_query(&query);
                let url = if q.is_empty() {
                    format!("{}/", self.base)
                } else {
                    format!("{}/?{q}", self.base)
                };
                let mut rb = if method == "GET" {
                    self.http.get(url)
                } else {
                    self.http.post(url).body(body)
                };
                for (k, v) in &headers {
                    if k != "host" {
                        rb = rb.header(k.as_str(), v.as_str());
                    }
                }
                rb.header("authorization", auth).send().await
            }
        };
        match resp {
            Ok(r) => {
                let status = r.status().as_u16();
                let retry_after = r
                    .headers()
                    .get("x-acs-retry-after")
                    .map(|v| v.to_str().unwrap().to_string());
                let text = r.text().await.unwrap_or_default();
                Reply {
                    status,
                    retry_after,
                    body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
                }
            }
            Err(e) => Reply {
                status: 0,
                retry_after: None,
                body: Value::String(format!("transport: {e}")),
            },
        }
    }
}

pub fn t(s: &str) -> livebatch::model::ApiTime {
    livebatch::model::ApiTime::parse(s).unwrap()
}

/// The wall clock plus `offset_secs`, at the API's one-second resolution.
pub fn at(offset_secs: i64) -> livebatch::model::ApiTime {
    livebatch::model::ApiTime::from_unix(chrono::Utc::now().timestamp() + offset_secs).unwrap()
}

/// A task in `cn-shanghai` for seeding the emulator: times are offsets from now, the callback is
/// `https://hooks.old.example.com/cb`, and a live source gets the `rtmp` protocol.
pub fn seed_task(
    id: &str,
    source_type: livebatch::model::SourceType,
    urls: &[&str],
    status: livebatch::model::TaskStatus,
    start: i64,
    end: i64,
) -> livebatch::emulator::SeedTask {
    use livebatch::model::SourceType;
    livebatch::emulator::SeedTask {
        task_id: id.into(),
        region: livebatch::model::Region::CnShanghai,
        task_name: id.into(),
        source_type,
        source_protocol: if source_type == SourceType::Live {
            "rtmp".into()
        } else {
            String::new()
        },
        source_urls: urls.iter().map(|s| s.to_string()).collect(),
        dst_url: format!("rtmp://push.example.com/live/{id}"),
        start_time: at(start),
        end_time: at(end),
        callback_url: "https://hooks.old.example.com/cb".into(),
        repeat_number: 0,
        offset: 0,
        file_index: 0,
        retry_count: 3,
        retry_interval: 60,
        task_status: status,
        task_exit_reason: None,
        task_exit_time: None,
        restarted_at: None,
    }
}
