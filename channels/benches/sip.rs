//! Call-setup throughput and latency through the SIP server, driven by `sipp`.
//!
//! `cargo bench -p channels --bench sip` (release). Environment: `SIP_BENCH_RATE` calls per second
//! offered (default 200), `SIP_BENCH_CALLS` total (default 4000), `SIP_BENCH_HOLD_MS` talk time
//! per call (default 1000). A sipp UAC places the calls (INVITE, 182, 180, 200, ACK, BYE) against
//! an auto-answering sipp UAS registered as the one agent; a trivial hub loop queues each call and
//! rings that agent. Latency is INVITE → 200 at the caller, from sipp's `-trace_rtt`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)]

use std::collections::HashMap;
use std::net::UdpSocket as StdUdp;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use channels::sip::{DigestSecret, SipAccount, SipConfig, SipCredentials, SipEvent, SipServer};
use schema::AgentId;
use tokio::process::Command;

struct One(AgentId);
impl SipCredentials for One {
    fn account(&self, username: &str, _: &str) -> Option<SipAccount> {
        (username == "agent1").then(|| SipAccount { agent: self.0, secret: DigestSecret::Password("pw".into()) })
    }
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn port() -> u16 {
    StdUdp::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn scenario(name: &str) -> String {
    format!("{}/tests/sipp/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let rate = env("SIP_BENCH_RATE", 200);
    let calls = env("SIP_BENCH_CALLS", 4000);
    let hold = env("SIP_BENCH_HOLD_MS", 1000);
    let agent = AgentId::new();
    let cfg = SipConfig {
        udp: Some("127.0.0.1:0".parse().unwrap()),
        tcp: None,
        support_numbers: vec!["support".into()],
        rate_limit: None,
        ..SipConfig::default()
    };
    let (server, mut events) = SipServer::start(cfg, Arc::new(One(agent))).await.unwrap();
    let addr = server.udp_addr().unwrap();
    let dir = std::env::temp_dir().join(format!("switchboard-sip-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let agent_port = port();
    let reg = Command::new("sipp")
        .arg(addr.to_string())
        .args(["-sf", &scenario("register.xml"), "-i", "127.0.0.1", "-p", &port().to_string(), "-m", "1"])
        .args(["-key", "user", "agent1", "-key", "contact_port", &agent_port.to_string(), "-au", "agent1", "-ap", "pw"])
        .args(["-nostdin", "-timeout", "10s", "-timeout_error"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .status()
        .await
        .expect("`sipp` is not installed: apt-get install sip-tester");
    assert!(reg.success(), "registration failed");
    let binding = server.handle().bindings(agent).await.unwrap().remove(0);

    let handle = server.handle();
    let hub = tokio::spawn(async move {
        let mut offered: HashMap<channels::sip::CallId, Instant> = HashMap::new();
        let mut setup = Vec::new();
        let (mut ended, mut failed) = (0u64, 0u64);
        while let Some(e) = events.recv().await {
            match e {
                SipEvent::IncomingCall { call, .. } => {
                    offered.insert(call, Instant::now());
                    handle.queue(call).unwrap();
                    handle.ring_agent(call, &binding, Duration::from_secs(10)).unwrap();
                }
                SipEvent::AgentAnswered { call, .. } => {
                    if let Some(t) = offered.remove(&call) {
                        setup.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                }
                SipEvent::AgentNoAnswer { call, .. } => {
                    failed += 1;
                    handle.reject(call, 480, None).unwrap();
                }
                SipEvent::CallEnded { .. } => {
                    ended += 1;
                    if ended == calls {
                        break;
                    }
                }
                _ => {}
            }
        }
        (setup, failed)
    });

    let uas = Command::new("sipp")
        .args(["-sf", &scenario("agent_answers.xml"), "-i", "127.0.0.1", "-p", &agent_port.to_string()])
        .args(["-m", &calls.to_string(), "-nostdin", "-timeout", "600s"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let uac = Command::new("sipp")
        .arg(addr.to_string())
        .args(["-sf", &scenario("caller_answered.xml"), "-i", "127.0.0.1", "-p", &port().to_string()])
        .args(["-s", "support", "-r", &rate.to_string(), "-m", &calls.to_string(), "-d", &hold.to_string()])
        .args(["-l", &(rate * (hold / 1000 + 5)).to_string(), "-trace_rtt", "-rtt_freq", "100", "-nostdin"])
        .args(["-timeout", "600s"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let (mut setup, failed) = tokio::time::timeout(Duration::from_secs(30), hub).await.unwrap().unwrap();
    drop(uas);

    let mut rtt = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("caller_answered_") && name.ends_with("_rtt.csv") {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            rtt.extend(text.lines().filter_map(|l| l.split(';').nth(1)?.trim().parse::<f64>().ok()));
            let _ = std::fs::remove_file(entry.path());
        }
    }
    rtt.sort_by(f64::total_cmp);
    setup.sort_by(f64::total_cmp);
    println!("sip bench: offered {rate} calls/s, {calls} calls, hold {hold} ms; sipp uac exit {uac}");
    println!(
        "  completed: {} calls in {:.2} s; set-up rate {:.0} calls/s (completed / (elapsed - hold)); agent no-answer {failed}",
        rtt.len(),
        elapsed.as_secs_f64(),
        rtt.len() as f64 / (elapsed.as_secs_f64() - hold as f64 / 1000.0).max(0.001)
    );
    println!(
        "  caller INVITE -> 200 (sipp -trace_rtt, 1 ms resolution): p50 {:.2}  p99 {:.2}  max {:.2}  (n = {})",
        percentile(&rtt, 0.5),
        percentile(&rtt, 0.99),
        rtt.last().copied().unwrap_or(f64::NAN),
        rtt.len()
    );
    println!(
        "  hub IncomingCall -> AgentAnswered (ms): p50 {:.2}  p99 {:.2}  (n = {})",
        percentile(&setup, 0.5),
        percentile(&setup, 0.99),
        setup.len()
    );
}
