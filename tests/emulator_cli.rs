//! The binary: first line, then a clean stop.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn prints_the_real_port_first_and_serves() {
    let mut child = Command::new(assert_cmd::cargo::cargo_bin!("livebatch"))
        .args(["emulator", "--listen", "127.0.0.1:0", "--qps", "5"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_string();
    let port: u16 = url
        .strip_prefix("http://127.0.0.1:")
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(port, 0);
    let stats = std::net::TcpStream::connect(("127.0.0.1", port));
    assert!(stats.is_ok());
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn rejects_bad_rates() {
    assert_cmd::Command::new(assert_cmd::cargo::cargo_bin!("livebatch"))
        .args(["emulator", "--fail-rate", "2"])
        .assert()
        .code(64)
        .stderr(predicates::str::contains("fraction from 0 to 1"));
}
