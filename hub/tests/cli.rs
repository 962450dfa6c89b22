//! The `switchboard` binary itself: environment configuration, `admin create`, and a graceful
//! stop on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchboard-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn admin_create_then_serve_from_env_then_sigterm() {
    let dir = temp_dir();
    let db = format!("sqlite://{}", dir.join("cli.db").display());

    // `admin create` reads the password from stdin and refuses a weak one.
    let mut child = Command::new(BIN)
        .args(["admin", "create", "--email", "Root@Example.com", "--name", "Root"])
        .env("SWITCHBOARD_DATABASE__URL", &db)
        .env_remove("SWITCHBOARD_ADMIN_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"short\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("password"), "{out:?}");

    let out = Command::new(BIN)
        .args(["admin", "create", "--email", "Root@Example.com", "--name", "Root"])
        .env("SWITCHBOARD_DATABASE__URL", &db)
        .env("SWITCHBOARD_ADMIN_PASSWORD", "correct horse battery staple")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("root@example.com"));

    // Serve, configured only through the environment, on an ephemeral port.
    let mut hub = Command::new(BIN)
        .arg("serve")
        .env("SWITCHBOARD_DATABASE__URL", &db)
        .env("SWITCHBOARD_SERVER__BIND", "127.0.0.1:0")
        .env("SWITCHBOARD_SERVER__WORKERS", "1")
        .env("SWITCHBOARD_LOG__FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(hub.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line.trim().rsplit("http://").next().unwrap().to_owned();
    assert!(line.contains("listening"), "{line}");

    let http = reqwest::Client::new();
    let res = http
        .post(format!("http://{addr}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "root@example.com", "password": "correct horse battery staple"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // SIGTERM: the hub stops by itself, cleanly, well within its shutdown timeout.
    let status = Command::new("kill").args(["-TERM", &hub.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = hub.try_wait().unwrap() {
            break exit;
        }
        assert!(std::time::Instant::now() < deadline, "the hub did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exit.success(), "{exit:?}");
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut hub.stderr.take().unwrap(), &mut logs).unwrap();
    let last = logs.lines().last().unwrap_or_default();
    let last: serde_json::Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {last}"));
    assert_eq!(last["fields"]["message"], "stopped", "JSON logs, ending with a clean stop");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_bad_config_file_is_refused_by_name() {
    let dir = temp_dir().join("bad-config");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("switchboard.toml");
    std::fs::write(&file, "[server]\nbind = \"not an address\"\n").unwrap();
    let out = Command::new(BIN).args(["--config", file.to_str().unwrap(), "serve"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bind"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}
