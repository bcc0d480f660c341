//! Every flow in `examples/` runs as its comment says, from the repository
//! root, with the bundled plugins.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::common::{
    plugin_dir_with, runtime_exe, stderr, stdout, wait_at_most, workspace, RunningFlow, BUNDLED,
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
    // The example writes to a fixed path in /tmp; its copy here writes
    // into this test's own directory.
    let example =
        std::fs::read_to_string(workspace().join("examples/blaster-to-file.toml")).unwrap();
    let copy = plugins.join("records-copy.jsonl");
    let flow = example.replace("/tmp/pdk-records.jsonl", copy.to_str().unwrap());
    assert_ne!(flow, example, "the example writes where its comment says");
    let flow_file = plugins.join("blaster-to-file.toml");
    std::fs::write(&flow_file, flow).unwrap();
    let output = Command::new(runtime_exe())
        .arg("run")
        .arg(&flow_file)
        .args(["--isolated", "--plugin-path"])
        .arg(&plugins)
        .current_dir(workspace())
        .env_remove("PDK_PLUGIN_PATH")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let records = std::fs::read_to_string(workspace().join("examples/data/records.jsonl")).unwrap();
    let first_record: serde_json::Value =
        serde_json::from_str(records.lines().next().unwrap()).unwrap();
    let copied = std::fs::read_to_string(copy).unwrap();
    assert_eq!(copied.lines().count(), 100);
    let first_copied: serde_json::Value =
        serde_json::from_str(copied.lines().next().unwrap()).unwrap();
    assert_eq!(first_copied, first_record);
}

#[test]
fn the_tcp_examples_talk_to_each_other() {
    let plugins = plugin_dir_with("examples-tcp", BUNDLED);
    // The client starts first: it reconnects with backoff until the
    // server is up, as its comment promises.
    let client = example("metronome-to-tcp.toml", &plugins)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the client starts");
    let server = RunningFlow::start(&workspace().join("examples/tcp-echo.toml"), &plugins);
    server.wait_for_log("listening on 127.0.0.1:4242");

    // The server echoes what a client sends, line by line.
    let mut echo = TcpStream::connect("127.0.0.1:4242").unwrap();
    echo.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    echo.write_all(b"hello\nworld\n").unwrap();
    let mut lines = BufReader::new(echo.try_clone().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "hello");
    assert_eq!(lines.next().unwrap().unwrap(), "world");

    // The client delivered its five ticks (acknowledged once written).
    let client = wait_at_most(client, Duration::from_secs(30));
    assert!(client.status.success(), "{}", stderr(&client));
    let (output, _) = server.terminate(Duration::from_secs(10));
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

#[test]
fn the_scale_out_examples_pass_validate() {
    let plugins = plugin_dir_with("examples-scale-out", BUNDLED);
    let dir = workspace().join("examples/scale-out");
    let mut flows: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.ends_with(".toml")
                .then(|| format!("examples/scale-out/{name}"))
        })
        .collect();
    flows.sort();
    assert_eq!(flows.len(), 4, "{flows:?}");
    let mut command = Command::new(runtime_exe());
    command
        .arg("validate")
        .args(&flows)
        .args(["--isolated", "--plugin-path"])
        .arg(&plugins)
        .current_dir(workspace())
        .env_remove("PDK_PLUGIN_PATH")
        .env("OUT", plugins.join("out.jsonl"));
    let output = command.output().expect("pdk-runtime runs");
    assert!(output.status.success(), "{}", stderr(&output));
}
