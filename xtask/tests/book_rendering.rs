//! The book as a reader sees it: its key pages rendered by a real
//! headless Chromium, at a laptop's width and a phone's, with no code
//! block, table or table cell whose content runs past its box (a command
//! cut at the right edge), and no table column squeezed to a sliver.
//!
//! Needs mdBook and Chromium, which `scripts/install-mdbook` and
//! `scripts/install-chromium` install (the test runs them); so ignored by
//! `cargo test`, and run by `.ci/run`:
//!
//! ```text
//! cargo test -p xtask --test book_rendering -- --ignored
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

/// The pages a new user reads first, and those with the widest tables and
/// commands.
const KEY_PAGES: &[&str] = &[
    "introduction",
    "installing",
    "quick-start",
    "tutorial",
    "reliability",
    "performance",
    "reference-cli",
    "reference-flows",
    "connectors",
];

/// Window widths in CSS pixels: a laptop with the sidebar open, a phone.
const WIDTHS: &[u32] = &[1280, 420];

/// Marks what the check found, in the rendered page's DOM.
const REPORT_ATTRIBUTE: &str = "data-pdk-overflow";

/// Runs in the page once it has loaded, and writes what overflows into
/// the `body`'s [`REPORT_ATTRIBUTE`], as a JSON array of sentences.
const CHECK: &str = r#"
<script>
window.addEventListener("load", () => {
  const problems = [];
  const main = document.querySelector("main");
  const words = (element) => (element ? element.textContent : "").trim().split("\n")[0].slice(0, 60);
  for (const pre of main.querySelectorAll("pre")) {
    for (const box of [pre, pre.querySelector("code")].filter(Boolean)) {
      if (box.scrollWidth > box.clientWidth + 1) {
        problems.push(`code block "${words(pre)}": ${box.scrollWidth}px of content in ${box.clientWidth}px`);
        break;
      }
    }
  }
  const textRight = main.getBoundingClientRect().right;
  for (const table of main.querySelectorAll("table")) {
    const name = words(table.rows[0]);
    const right = table.getBoundingClientRect().right;
    if (right > textRight + 1) {
      problems.push(`table "${name}": ends ${Math.round(right - textRight)}px past the text column`);
    }
    for (const cell of table.querySelectorAll("th, td")) {
      if (cell.scrollWidth > cell.clientWidth + 1) {
        problems.push(`table "${name}", cell "${words(cell)}": ${cell.scrollWidth}px of content in ${cell.clientWidth}px`);
      }
    }
    for (const header of table.querySelectorAll("th")) {
      const width = header.getBoundingClientRect().width;
      if (width < 64) {
        problems.push(`table "${name}": column "${words(header)}" squeezed to ${Math.round(width)}px`);
      }
    }
  }
  document.body.setAttribute("data-pdk-overflow", JSON.stringify(problems));
});
</script>
"#;

#[test]
#[ignore = "needs mdBook and Chromium (installed by the project's scripts); run by .ci/run"]
fn no_code_block_or_table_of_the_key_pages_overflows_in_a_browser() {
    let chromium = script_output("install-chromium");
    script_output("install-mdbook");
    let out = std::env::temp_dir().join(format!("pdk-book-rendering-{}", std::process::id()));
    let build = Command::new("mdbook")
        .args(["build", "book", "--dest-dir"])
        .arg(&out)
        .current_dir(workspace())
        .output()
        .expect("mdbook runs");
    assert!(build.status.success(), "{}", text(&build.stderr));

    let mut problems = Vec::new();
    for page in KEY_PAGES {
        let html = std::fs::read_to_string(out.join(format!("{page}.html")))
            .unwrap_or_else(|e| panic!("{page}.html: {e}"));
        let checked = out.join(format!("{page}.rendering-check.html"));
        std::fs::write(
            &checked,
            html.replace("</body>", &format!("{CHECK}</body>")),
        )
        .unwrap();
        for width in WIDTHS {
            for problem in overflows(&chromium, &checked, *width) {
                problems.push(format!("{page}.md at {width}px: {problem}"));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&out);
    assert!(
        problems.is_empty(),
        "content runs past its box:\n{}",
        problems.join("\n")
    );
}

/// What the check found in `page`, rendered `width` pixels wide.
fn overflows(chromium: &str, page: &Path, width: u32) -> Vec<String> {
    let rendered = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--virtual-time-budget=10000",
            &format!("--window-size={width},1000"),
            "--dump-dom",
        ])
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(rendered.status.success(), "{}", text(&rendered.stderr));
    let dom = text(&rendered.stdout);
    let start = format!("{REPORT_ATTRIBUTE}=\"");
    let report = dom
        .find(&start)
        .map(|at| &dom[at + start.len()..])
        .and_then(|rest| rest.split_once('"'))
        .map(|(report, _)| report.replace("&quot;", "\"").replace("&amp;", "&"))
        .unwrap_or_else(|| panic!("the check did not run in {}", page.display()));
    serde_json::from_str(&report).unwrap_or_else(|e| panic!("{report}: {e}"))
}

/// Runs `scripts/NAME`, which must succeed, and returns what it printed.
fn script_output(name: &str) -> String {
    let output = Command::new(workspace().join("scripts").join(name))
        .output()
        .unwrap_or_else(|e| panic!("scripts/{name}: {e}"));
    assert!(
        output.status.success(),
        "scripts/{name}: {}",
        text(&output.stderr)
    );
    text(&output.stdout).trim().to_owned()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}
