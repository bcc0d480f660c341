//! The command line follows the conventions of well-loved Rust tools:
//! global search options, a verbose `--version`, shell completions.

use crate::common::{plugin_dir_with, runtime, stderr, stdout, ticks_into, write_flow};

#[test]
fn search_options_work_before_the_subcommand_as_after_it() {
    let dir = plugin_dir_with("options-first", &["metronome"]);
    let flow = write_flow(&dir, "flow.toml", &ticks_into(1, 2, "stdout", "{}"));
    let (dir, flow) = (dir.to_str().unwrap(), flow.to_str().unwrap());
    let before = runtime(&["--isolated", "--plugin-path", dir, "run", flow]);
    let after = runtime(&["run", flow, "--isolated", "--plugin-path", dir]);
    for output in [&before, &after] {
        assert!(output.status.success(), "{}", stderr(output));
        assert_eq!(
            stdout(output),
            "{\"connector\":\"tick\",\"tick\":0}\n{\"connector\":\"tick\",\"tick\":1}\n"
        );
    }
}

#[test]
fn version_names_the_interface_the_compiler_and_the_built_in_connectors() {
    let long = stdout(&runtime(&["--version"]));
    let lines: Vec<&str> = long.lines().collect();
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(lines[0], format!("pdk-runtime {version}"));
    assert_eq!(
        lines[1],
        format!("interface: {}", pdk::abi::INTERFACE_VERSION)
    );
    assert!(lines[2].starts_with("rustc: 1."), "{long}");
    assert!(
        lines[3].starts_with("built-in connectors: blackhole, blaster, file,"),
        "{long}"
    );
    assert_eq!(
        stdout(&runtime(&["-V"])),
        format!("pdk-runtime {version}\n")
    );
}

#[test]
fn completions_are_printed_for_each_shell() {
    for (shell, marker) in [
        ("bash", "complete -F _pdk__runtime"),
        ("zsh", "#compdef pdk-runtime"),
        ("fish", "complete -c pdk-runtime"),
    ] {
        let output = runtime(&["completions", shell]);
        assert!(output.status.success(), "{shell}: {}", stderr(&output));
        let script = stdout(&output);
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(script.contains("plugin-path"), "{shell}: {script}");
    }
    let unknown = runtime(&["completions", "cmd.exe"]);
    assert_eq!(unknown.status.code(), Some(2));
}
