//! Variables in flow files, substituted from the environment and from
//! secret files, on the real binary.

use crate::common::{plugin_dir_with, runtime_isolated_with_env, stderr, tick, write_flow};

/// A metronome sending to a `file` sink whose directory is `${PDK_TEST_OUT_DIR}`,
/// to one whose path is kept in a secret file, and to a `tcp_client` of
/// the server on port `${PORT}`.
const FLOW: &str = r#"
[[connector]]
id = "tick"
type = "metronome"
config = { interval_ms = 1, count = 3 }

[[connector]]
id = "out"
type = "file"
config = { path = "${PDK_TEST_OUT_DIR}/out.jsonl" }

[[connector]]
id = "copy"
type = "file"
config = { path = "${file:secret-path}" }

[[connector]]
id = "client"
type = "tcp_client"
config = { url = "127.0.0.1:${PORT}" }

[[link]]
from = "tick"
to = ["out", "copy", "client"]
"#;

#[test]
fn a_flow_runs_with_its_variables_substituted_and_an_unset_one_is_named() {
    let dir = plugin_dir_with("variables", &["metronome", "file", "tcp_client"]);
    let out_dir = dir.join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let copy = dir.join("copy.jsonl");
    std::fs::write(dir.join("secret-path"), format!("{}\n", copy.display())).unwrap();
    let flow = write_flow(&dir, "vars.toml", FLOW);

    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port().to_string();
    let received = std::thread::spawn(move || {
        let (stream, _) = server.accept().unwrap();
        std::io::BufRead::lines(std::io::BufReader::new(stream))
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    let output = runtime_isolated_with_env(
        &["run", flow.to_str().unwrap()],
        &dir,
        &[
            ("PDK_TEST_OUT_DIR", out_dir.to_str().unwrap()),
            ("PORT", &port),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        received.join().unwrap(),
        (0..3).map(tick).collect::<Vec<_>>()
    );
    let expected: Vec<String> = (0..3).map(tick).collect();
    for file in [out_dir.join("out.jsonl"), copy] {
        let written = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            written.lines().collect::<Vec<_>>(),
            expected,
            "{}",
            file.display()
        );
    }

    let output =
        runtime_isolated_with_env(&["run", flow.to_str().unwrap()], &dir, &[("PORT", "1")]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(
        err.contains(&format!(
            "error: {}: connector `out`.config.path: environment variable `PDK_TEST_OUT_DIR` is not set; \
             fix: set `PDK_TEST_OUT_DIR`, or give a default: `${{PDK_TEST_OUT_DIR:-VALUE}}`",
            flow.display()
        )),
        "{err}"
    );
}
