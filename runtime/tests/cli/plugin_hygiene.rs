//! What DESIGN.md promises about plugin crates: they never depend on the
//! runtime, and their source holds no FFI.

use std::process::Command;

use crate::common::{package, workspace, BUNDLED};

#[test]
fn no_plugin_crate_depends_on_the_runtime() {
    for plugin in BUNDLED {
        let package = package(plugin);
        let output = Command::new(env!("CARGO"))
            .args(["tree", "-p", &package, "--edges", "all", "--prefix", "none"])
            .current_dir(workspace())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let tree = String::from_utf8_lossy(&output.stdout);
        assert!(tree.contains(&format!("{package} v")), "{tree}");
        assert!(tree.contains("pdk-sdk v"), "{tree}");
        assert!(
            !tree.contains("pdk-runtime"),
            "{plugin} depends on the runtime:\n{tree}"
        );
    }
}

#[test]
fn connector_sources_contain_no_ffi() {
    const FORBIDDEN: &[&str] = &[
        "extern \"C\"",
        "unsafe",
        "into_ffi",
        "abi_stable",
        "RString",
        "RStr",
        "RVec",
        "RBox",
        "RResult",
        "ROption",
        "RHashMap",
        "export_root_module",
        "catch_unwind",
    ];
    let mut checked = 0;
    for plugin in BUNDLED {
        let src = workspace().join("connectors").join(plugin).join("src");
        let files = walkdir::WalkDir::new(&src)
            .into_iter()
            .map(|entry| entry.unwrap())
            .filter(|entry| entry.file_type().is_file());
        for file in files {
            let path = file.path();
            let text = std::fs::read_to_string(path).unwrap();
            for token in FORBIDDEN {
                assert!(
                    !text.contains(token),
                    "{} contains `{token}`",
                    path.display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= BUNDLED.len());
}
