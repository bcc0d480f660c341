//! The book's tutorial, followed on the real binary: `pdk-runtime new`
//! creates a crate that builds and loads as it is; with the tutorial's code
//! (`tutorial/`) in it, it builds and runs the tutorial's flow.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{
    library_file, plugin_dir_with, run_flow, runtime, scratch_dir, stderr, stdout, workspace,
    write_flow,
};

/// Builds the crate in `dir` (with the workspace's lock file, so that it
/// uses the same dependency versions) into a target directory of its own,
/// and returns the library.
fn cargo_build(dir: &Path) -> PathBuf {
    std::fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    let target = workspace().join("target").join("scaffold-test");
    let output = Command::new(env!("CARGO"))
        .arg("build")
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo build of the new crate failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    target.join("debug").join(library_file("greeter"))
}

/// Runs `flow` with the library `plugin` and the bundled `stdout`.
fn run_with(test: &str, plugin: &Path, flow: &str) -> std::process::Output {
    let dir = plugin_dir_with(test, &["stdout"]);
    std::fs::copy(plugin, dir.join(library_file("greeter"))).unwrap();
    run_flow(&write_flow(&dir, "flow.toml", flow), &dir)
}

#[test]
fn the_tutorial_from_scaffold_to_a_flow() {
    let parent = scratch_dir("tutorial");
    let sdk = workspace().join("pdk");
    let output = runtime(&[
        "new",
        "greeter",
        "--dir",
        parent.to_str().unwrap(),
        "--pdk-path",
        sdk.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let krate = parent.join("greeter");
    assert!(stdout(&output).starts_with(&format!("created {}\n", krate.display())));
    for file in ["Cargo.toml", "src/lib.rs", "flow.toml", ".gitignore"] {
        assert!(krate.join(file).is_file(), "{file} is created");
    }

    // As it is, it builds and loads, and its flow runs.
    let scaffolded_flow = std::fs::read_to_string(krate.join("flow.toml")).unwrap();
    let output = run_with("tutorial-scaffold", &cargo_build(&krate), &scaffolded_flow);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "{\"from\":\"greeter\",\"n\":0}\n{\"from\":\"greeter\",\"n\":1}\n{\"from\":\"greeter\",\"n\":2}\n"
    );

    // With the tutorial's code, the tutorial's flow prints its greetings.
    let tutorial = workspace().join("tutorial");
    std::fs::copy(tutorial.join("src/lib.rs"), krate.join("src/lib.rs")).unwrap();
    let library = cargo_build(&krate);
    let flow = std::fs::read_to_string(tutorial.join("flow.toml")).unwrap();
    let output = run_with("tutorial-greeter", &library, &flow);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "{\"greeting\":\"Hello, Ada!\"}\n{\"greeting\":\"Hello, Grace!\"}\n{\"greeting\":\"Hello, Barbara!\"}\n"
    );
    assert!(stderr(&output).contains(" INFO  greeter/hello] `hello` will greet 3 names\n"));

    // The tutorial's misspelt key, and the line the book shows for it.
    let output = run_with(
        "tutorial-typo",
        &library,
        &flow.replace("names =", "nmes ="),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(
            "flow.toml: connector `hello` (type `greeter`) config: unknown field `nmes`, \
             expected `names` or `interval_ms`; fix: correct the `config` table of connector `hello`"
        ),
        "{}",
        stderr(&output)
    );
}

#[test]
fn new_refuses_a_bad_name_and_an_existing_directory() {
    let parent = scratch_dir("scaffold-refusals");
    let dir = parent.to_str().unwrap();
    let output = runtime(&["new", "My-Plugin", "--dir", dir]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "error: `My-Plugin` is not a valid plugin name; use lowercase letters, digits, `-` and \
         `_`, starting with a letter (for example `my-source`)\n"
    );
    std::fs::create_dir(parent.join("taken")).unwrap();
    let output = runtime(&["new", "taken", "--dir", dir]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        format!(
            "error: {} already exists; choose another name or remove it\n",
            parent.join("taken").display()
        )
    );
}

#[test]
fn a_name_with_dashes_is_the_package_and_its_crate_and_connector_use_underscores() {
    let parent = scratch_dir("scaffold-dashes");
    let output = runtime(&["new", "my-conn", "--dir", parent.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let krate = parent.join("my-conn");
    let manifest = std::fs::read_to_string(krate.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("name = \"my-conn\"\n"), "{manifest}");
    // A runtime built in a clone: the clone's SDK, under the name `pdk`,
    // and it says so (the registry's is the release test's).
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("pdk");
    assert!(
        manifest.contains(&format!(
            "pdk = {{ package = \"pdk-sdk\", path = {:?} }}\n",
            sdk.display().to_string()
        )),
        "{manifest}"
    );
    assert!(
        stdout(&output).contains(&format!(
            "\nsdk: pdk-sdk at {}, the clone this runtime was built from",
            sdk.display()
        )),
        "{}",
        stdout(&output)
    );
    let source = std::fs::read_to_string(krate.join("src/lib.rs")).unwrap();
    assert!(source.contains("#[connector(name = \"my_conn\")]\npub struct MyConn {"));
    let flow = std::fs::read_to_string(krate.join("flow.toml")).unwrap();
    assert!(flow.contains("type = \"my_conn\""), "{flow}");
}
