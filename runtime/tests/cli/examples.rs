//! Every flow in `examples/` runs as its comment says, from the repository
//! root, with the bundled plugins.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::common::{
    plugin_dir_with, runtime_exe, stderr, stdout, terminate, wait_at_most, workspace, RunningFlow,
    BUNDLED,
};

fn example(name: &str, plugins: &Path) -> Command {
    let mut command = Command::new(runtime_exe());
    command
        .args([
            "run",
            &format!("examples/{name}"),
            "--isolated",
            "--plugin-path",
        ])
        .arg(plugins)
        .current_dir(workspace())
        .env_remove("PDK_PLUGIN_PATH");
    command
}

fn run_example(name: &str, plugins: &Path) -> Output {
    let output = example(name, plugins).output().expect("pdk-runtime runs");
    assert!(output.status.success(), "{name}: {}", stderr(&output));
    output
}

#[test]
fn the_terminating_examples_run_and_print_what_they_say() {
    let plugins = plugin_dir_with("examples", BUNDLED);
    assert_eq!(
        stdout(&run_example("file-to-stdout.toml", &plugins)),
        "\"first line\"\n\"second line\"\n\"third line\"\n"
    );
    let summary = stdout(&run_example("blaster-to-blackhole.toml", &plugins));
    assert!(
        summary.starts_with("blackhole id=bh events=9000 "),
        "{summary}"
    );
    assert_eq!(
        stdout(&run_example("metronome-to-stdout.toml", &plugins))
            .lines()
            .count(),
        5
    );
    let copy = Path::new("/tmp/pdk-records.jsonl");
    let _ = std::fs::remove_file(copy);
    run_example("blaster-to-file.toml", &plugins);
    assert_eq!(std::fs::read_to_string(copy).unwrap().lines().count(), 100);
}

#[test]
fn the_tcp_examples_talk_to_each_other() {
    let plugins = plugin_dir_with("examples-tcp", BUNDLED);
    let server = example("tcp-echo.toml", &plugins)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the echo server starts");
    run_example("metronome-to-tcp.toml", &plugins);
    terminate(&server);
    let output = wait_at_most(server, Duration::from_secs(10));
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn the_http_examples_talk_to_each_other() {
    let plugins = plugin_dir_with("examples-http", BUNDLED);
    let server = RunningFlow::start(&workspace().join("examples/http-echo.toml"), &plugins);
    server.wait_for_log("listening on http://127.0.0.1:8080");
    let responses = stdout(&run_example("metronome-to-http.toml", &plugins));
    let lines: Vec<serde_json::Value> = responses
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 5, "{responses}");
    for (n, response) in lines.iter().enumerate() {
        assert_eq!(response["status"], 200);
        assert_eq!(
            response["body"],
            serde_json::json!({ "connector": "tick", "tick": n })
        );
    }
    let (output, _) = server.terminate(Duration::from_secs(10));
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn the_udp_example_echoes() {
    let plugins = plugin_dir_with("examples-udp", BUNDLED);
    let server = RunningFlow::start(&workspace().join("examples/udp-echo.toml"), &plugins);
    server.wait_for_log("bound to 127.0.0.1:4243");
    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    client.send_to(b"hello", "127.0.0.1:4243").unwrap();
    let mut reply = [0u8; 64];
    let (length, _) = client.recv_from(&mut reply).unwrap();
    assert_eq!(&reply[..length], b"hello");
    let (output, _) = server.terminate(Duration::from_secs(10));
    assert!(output.status.success(), "{}", stderr(&output));
}
