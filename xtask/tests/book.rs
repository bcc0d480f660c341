//! The book's own rules: every chapter is in `SUMMARY.md`, every Rust block
//! is included from a file that CI compiles, and every internal link and
//! anchor resolves.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};

/// Directories whose Rust files `cargo test --workspace` compiles and
/// whose compilation must succeed (so not `ui-tests/fail`).
const COMPILED: &[&str] = &[
    "connectors/",
    "tutorial/",
    "ui-tests/pass/",
    "test-plugins/",
    "pdk/src/",
    "pdk-macros/src/",
    "runtime/src/",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn book_src() -> PathBuf {
    workspace().join("book/src")
}

/// Every chapter file, by name.
fn chapters() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(book_src())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md") && name != "SUMMARY.md")
        .collect();
    names.sort();
    names
}

fn read_chapter(name: &str) -> String {
    std::fs::read_to_string(book_src().join(name)).unwrap()
}

/// What mdBook makes of a heading's text as its anchor.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '_' || c == '-' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a chapter's headings.
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut anchors = BTreeSet::new();
    let mut heading: Option<String> = None;
    for event in Parser::new(markdown) {
        match event {
            Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Event::Text(text) | Event::Code(text) => {
                if let Some(heading) = &mut heading {
                    heading.push_str(&text);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some(text) = heading.take() {
                    anchors.insert(slug(&text));
                }
            }
            _ => {}
        }
    }
    anchors
}

/// The file (relative to the workspace) and anchor of one
/// `{{#include ../../FILE:ANCHOR}}` line.
fn include_target(line: &str) -> Option<(String, Option<String>)> {
    let inner = line
        .trim()
        .strip_prefix("{{#include ")?
        .strip_suffix("}}")?;
    let path = inner.strip_prefix("../../")?;
    match path.split_once(':') {
        Some((file, anchor)) => Some((file.to_owned(), Some(anchor.to_owned()))),
        None => Some((path.to_owned(), None)),
    }
}

#[test]
fn every_chapter_is_in_the_summary_and_every_summary_entry_exists() {
    let summary = std::fs::read_to_string(book_src().join("SUMMARY.md")).unwrap();
    let mut listed = BTreeSet::new();
    for event in Parser::new(&summary) {
        if let Event::Start(Tag::Link { dest_url, .. }) = event {
            listed.insert(dest_url.into_string());
        }
    }
    let files: BTreeSet<String> = chapters().into_iter().collect();
    assert_eq!(listed, files);
}

#[test]
fn every_rust_block_is_included_from_a_compiled_file() {
    for chapter in chapters() {
        let markdown = read_chapter(&chapter);
        let mut block: Option<(String, String)> = None;
        for event in Parser::new(&markdown) {
            match event {
                Event::Start(Tag::CodeBlock(kind)) => {
                    let info = match kind {
                        CodeBlockKind::Fenced(info) => info.into_string(),
                        CodeBlockKind::Indented => String::new(),
                    };
                    assert!(
                        !info.is_empty(),
                        "{chapter}: a code block without a language (mdBook would take it for Rust); \
                         name it (`toml`, `console`, `text`, ...)"
                    );
                    block = Some((info, String::new()));
                }
                Event::Text(text) => {
                    if let Some((_, body)) = &mut block {
                        body.push_str(&text);
                    }
                }
                Event::End(TagEnd::CodeBlock) => {
                    let (info, body) = block.take().unwrap();
                    if info.split(',').next() == Some("rust") {
                        check_rust_block(&chapter, &body);
                    }
                }
                _ => {}
            }
        }
    }
}

/// A Rust block holds only includes of compiled files (and blank lines).
fn check_rust_block(chapter: &str, body: &str) {
    for line in body.lines().filter(|line| !line.trim().is_empty()) {
        let Some((file, anchor)) = include_target(line) else {
            panic!("{chapter}: a Rust block with code of its own: `{line}`; include it from a compiled file");
        };
        assert!(
            COMPILED.iter().any(|dir| file.starts_with(dir)),
            "{chapter}: `{file}` is not in a directory CI compiles"
        );
        let text = std::fs::read_to_string(workspace().join(&file))
            .unwrap_or_else(|e| panic!("{chapter}: cannot read `{file}`: {e}"));
        if let Some(anchor) = anchor {
            assert!(
                text.contains(&format!("ANCHOR: {anchor}\n"))
                    && text.contains(&format!("ANCHOR_END: {anchor}\n")),
                "{chapter}: `{file}` has no anchor `{anchor}`"
            );
        }
    }
}

#[test]
fn every_internal_link_and_anchor_resolves() {
    for chapter in chapters() {
        let markdown = read_chapter(&chapter);
        for event in Parser::new(&markdown) {
            let Event::Start(Tag::Link { dest_url, .. }) = event else {
                continue;
            };
            if dest_url.contains("://") || dest_url.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = match dest_url.split_once('#') {
                Some((file, anchor)) => (file, Some(anchor)),
                None => (&*dest_url, None),
            };
            let target = if file.is_empty() {
                chapter.as_str()
            } else {
                file
            };
            let path = book_src().join(target);
            assert!(path.is_file(), "{chapter}: link to missing `{dest_url}`");
            if let Some(anchor) = anchor {
                let found = anchors(&read_chapter(target));
                assert!(
                    found.contains(anchor),
                    "{chapter}: link `{dest_url}`: no heading with anchor `{anchor}` in {target} ({found:?})"
                );
            }
        }
    }
}

#[test]
fn anchors_are_made_as_mdbook_makes_them() {
    // The pinned mdBook, installed by the project's own script.
    let installed = Command::new(workspace().join("scripts/install-mdbook"))
        .status()
        .unwrap();
    assert!(installed.success(), "scripts/install-mdbook failed");
    let out = workspace()
        .join("target")
        .join(format!("book-anchors-{}", std::process::id()));
    let built = Command::new("mdbook")
        .arg("build")
        .arg(workspace().join("book"))
        .arg("--dest-dir")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    for chapter in chapters() {
        let html_name = chapter.replace(".md", ".html");
        let html = std::fs::read_to_string(out.join(&html_name)).unwrap();
        let made: BTreeSet<String> = html
            .match_indices(" id=\"")
            .filter_map(|(at, _)| html[at + 5..].split('"').next().map(str::to_owned))
            .collect();
        let ours = anchors(&read_chapter(&chapter));
        let missing: Vec<&String> = ours.difference(&made).collect();
        assert!(
            missing.is_empty(),
            "{chapter}: mdBook made no anchor {missing:?}; `slug` differs from mdBook"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}
