//! The quota store when it is not the Redis livebatch expects: a real `redis-server` that
//! requires a password, and a fake one answering more than any answer of the quota script can
//! be. Each is reported as what it is, before anything is sent.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use livebatch::apply::sandbox;
use livebatch::emulator::{DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, EmulatorConfig};
use livebatch::model::{ApiTime, Region, Update};

use crate::support::emulator::Emu;
use crate::support::quota::RedisServer;

const PASSWORD: &str = "pw-never-shown-4417";

fn updates(n: usize) -> Vec<Update> {
    (0..n)
        .map(|i| {
            let mut u = Update::new(format!("qh-{i:03}"), Region::CnShanghai);
            u.callback_url = Some(format!("https://hooks.example.com/qh/{i}"));
            u
        })
        .collect()
}

fn emulator(us: &[Update]) -> Emu {
    let now = ApiTime::from_unix(chrono::Utc::now().timestamp()).unwrap();
    Emu::start(EmulatorConfig {
        seed: sandbox::seed_tasks(us, now),
        ..EmulatorConfig::default()
    })
}

struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new(us: &[Update]) -> Scratch {
        let s = Scratch {
            dir: tempfile::tempdir().unwrap(),
        };
        let mut m = String::from("updates:\n");
        for u in us {
            m.push_str(&format!(
                "  - TaskId: {}\n    Region: cn-shanghai\n    CallbackUrl: {}\n",
                u.task_id,
                u.callback_url.as_deref().unwrap_or("")
            ));
        }
        std::fs::write(s.path("m.yaml"), m).unwrap();
        s
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self, emu: &Emu, sub: &[&str]) -> Command {
        let mut c = Command::new(assert_cmd::cargo::cargo_bin("livebatch"));
        c.env_clear()
            .env("HOME", self.dir.path())
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", DEFAULT_ACCESS_KEY_SECRET)
            .env("NO_PROXY", "127.0.0.1")
            .current_dir(self.dir.path())
            .args(sub)
            .args(["--endpoint", &emu.url(), "m.yaml", "--quota-key", "acct"])
            .args(["--quota-store-timeout", "2"])
            .stdin(Stdio::null());
        c
    }

    fn plan(&self, emu: &Emu, store: &str) -> std::process::Output {
        self.cmd(emu, &["plan"])
            .args(["--quota-store", store])
            .output()
            .unwrap()
    }

    fn apply(&self, emu: &Emu, store: &str) -> std::process::Output {
        self.cmd(emu, &["apply", "--yes", "--journal", "j.jsonl"])
            .args(["--quota-store", store])
            .output()
            .unwrap()
    }
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// What every refusal by a password-protected store must say: the authentication failure, by
/// Redis's name for it, what to check, and nothing an outage would say.
fn says_authentication_failed(e: &str, code: &str) {
    assert!(
        e.contains("authentication failed") && e.contains(code) && e.contains("password"),
        "{e}"
    );
    assert!(
        !e.contains("broken pipe") && !e.contains("unreachable") && !e.contains("--resume"),
        "{e}"
    );
    assert!(!e.contains(PASSWORD), "{e}");
}

#[test]
fn a_store_that_requires_a_password_is_named_as_an_authentication_failure() {
    let redis = RedisServer::start_with(&["--requirepass", PASSWORD]);
    let us = updates(3);
    let emu = emulator(&us);
    let s = Scratch::new(&us);
    let no_password = redis.url();

    let o = s.plan(&emu, &no_password);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    says_authentication_failed(&stderr(&o), "NOAUTH");

    let o = s.apply(&emu, &no_password);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    says_authentication_failed(&stderr(&o), "NOAUTH");

    let wrong = format!("redis://:wrong-{PASSWORD}@127.0.0.1:{}", redis.port);
    let o = s.apply(&emu, &wrong);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    says_authentication_failed(&stderr(&o), "WRONGPASS");

    assert_eq!(emu.ok_updates(), 0, "nothing is sent without the store");
    assert_eq!(emu.calls("DescribeLivePullToPushList"), 0);

    // With the password in the URL, the same run goes through.
    let right = format!("redis://:{PASSWORD}@127.0.0.1:{}", redis.port);
    let o = s.apply(&emu, &right);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(emu.ok_updates(), 3);
}

/// A fake store on loopback: to the first bytes a client sends, it answers a bulk string of
/// 200 MB, and writes its body until the client hangs up. Returns the URL and how many bytes of
/// the body it managed to write (known once the thread ends).
fn huge_answer_store() -> (String, std::thread::JoinHandle<u64>) {
    use std::io::{Read, Write};
    const HUGE: u64 = 200_000_000;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://127.0.0.1:{}", l.local_addr().unwrap().port());
    let t = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut first = [0u8; 512];
        let _ = s.read(&mut first);
        let mut written = 0u64;
        if s.write_all(format!("${HUGE}\r\n").as_bytes()).is_err() {
            return written;
        }
        let chunk = vec![b'a'; 64 << 10];
        while written < HUGE {
            match s.write(&chunk) {
                Ok(n) if n > 0 => written += n as u64,
                _ => break,
            }
        }
        written
    });
    (url, t)
}

#[test]
fn a_store_answering_a_huge_string_is_refused_before_reading_it() {
    let us = updates(2);
    let emu = emulator(&us);
    let s = Scratch::new(&us);
    let (url, fake) = huge_answer_store();
    let o = s.plan(&emu, &url);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains("a string of 200000000 bytes") && e.contains("not the Redis"),
        "{e}"
    );
    // The client hung up at the header: what the fake wrote after it is what fits in the
    // socket buffers, nowhere near the 200 MB it announced.
    let written = fake.join().unwrap();
    assert!(written < 32 << 20, "{written} bytes were taken");
    assert_eq!(emu.calls("DescribeLivePullToPushList"), 0);
}
