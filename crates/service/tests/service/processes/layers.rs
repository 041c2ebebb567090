//! The service crate's layering (ARCHITECTURE.md, `src/lib.rs`): each file's `crate::` imports
//! point down the layers — runtime, the configuration vocabulary, the PSA descriptors, the
//! assembled configuration, vendors, then ingest and roles, then commands — there is no import
//! cycle between files, and no function outside tests is longer than 80 lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layer of a file of `src/`, by its path (lower = further down); `None` for the crate roots.
fn layer(file: &str) -> Option<u8> {
    let leaf_config = [
        "config/error.rs",
        "config/values.rs",
        "config/secrets.rs",
        "config/duration.rs",
    ];
    Some(match file {
        "lib.rs" | "main.rs" => return None,
        f if f.starts_with("runtime/") => 0,
        f if leaf_config.contains(&f) => 1,
        f if f.starts_with("psa/") => 2,
        f if f == "config.rs" || f.starts_with("config/") => 3,
        f if f.starts_with("vendors/") || f.starts_with("http_server/") => 4,
        f if f.starts_with("ingest/") || f.starts_with("roles/") => 5,
        f if f.starts_with("commands/") || f == "cli.rs" => 6,
        other => panic!("{other}: a file outside the layers; add it to one (and to this table)"),
    })
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `src/`, relative, with its text.
fn files() -> BTreeMap<String, String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&src(), &src(), &mut out);
    out
}

/// The file a `crate::a::b::…` path names: the deepest module file that exists.
fn target(files: &BTreeMap<String, String>, segments: &[&str]) -> Option<String> {
    (1..=segments.len()).rev().find_map(|n| {
        let stem = segments[..n].join("/");
        [format!("{stem}.rs"), format!("{stem}/mod.rs")]
            .into_iter()
            .find(|f| files.contains_key(f))
    })
}

/// The files `text` imports through `crate::` paths in code (comments and doc links aside).
fn imports(files: &BTreeMap<String, String>, text: &str) -> BTreeSet<String> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let text = code.as_str();
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        let path: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
        if let Some(file) = target(files, &segments) {
            out.insert(file);
        }
    }
    out
}

#[test]
fn imports_point_down_the_layers_and_no_files_import_each_other_in_a_circle() {
    let files = files();
    let graph: BTreeMap<&str, BTreeSet<String>> = files
        .iter()
        .map(|(file, text)| (file.as_str(), imports(&files, text)))
        .collect();
    let mut upward = Vec::new();
    for (file, deps) in &graph {
        for dep in deps {
            if let (Some(from), Some(to)) = (layer(file), layer(dep)) {
                if from < to {
                    upward.push(format!("{file} (layer {from}) imports {dep} (layer {to})"));
                }
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports pointing up:\n{}",
        upward.join("\n")
    );
    // Cycles: a depth-first search over the file graph.
    fn visit<'a>(
        file: &'a str,
        graph: &'a BTreeMap<&str, BTreeSet<String>>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|f| *f == file) {
            return Some(
                stack[at..]
                    .iter()
                    .map(|f| f.to_string())
                    .chain([file.to_string()])
                    .collect(),
            );
        }
        if !done.insert(file) {
            return None;
        }
        stack.push(file);
        for dep in graph.get(file).into_iter().flatten() {
            if dep != file {
                if let Some(cycle) = visit(dep, graph, stack, done) {
                    return Some(cycle);
                }
            }
        }
        stack.pop();
        None
    }
    let (mut stack, mut done) = (Vec::new(), BTreeSet::new());
    for file in graph.keys() {
        if let Some(cycle) = visit(file, &graph, &mut stack, &mut done) {
            panic!("import cycle: {}", cycle.join(" → "));
        }
    }
}

/// The lines of each function outside `#[cfg(test)]` code, by `file:line name`.
fn function_lengths(text: &str) -> Vec<(usize, String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .iter()
        .position(|l| l.trim() == "#[cfg(test)]")
        .unwrap_or(lines.len());
    let mut out = Vec::new();
    for (i, line) in lines[..end].iter().enumerate() {
        let trimmed = line.trim_start();
        let is_fn = [
            "fn ",
            "pub fn ",
            "pub(crate) fn ",
            "async fn ",
            "pub async fn ",
            "pub(crate) async fn ",
            "pub(super) fn ",
        ]
        .iter()
        .any(|p| trimmed.starts_with(p));
        if !is_fn || trimmed.ends_with(';') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        let close = format!("{}}}", " ".repeat(indent));
        if let Some(len) = lines[i + 1..end].iter().position(|l| *l == close) {
            let name = trimmed.split('(').next().unwrap_or(trimmed).to_owned();
            out.push((i + 1, name, len + 2));
        }
    }
    out
}

#[test]
fn no_function_outside_tests_is_longer_than_80_lines() {
    let long: Vec<String> = files()
        .iter()
        .filter(|(file, _)| !file.ends_with("tests.rs"))
        .flat_map(|(file, text)| {
            function_lengths(text)
                .into_iter()
                .filter(|(_, _, len)| *len > 80)
                .map(move |(line, name, len)| format!("{file}:{line} {name}: {len} lines"))
        })
        .collect();
    assert!(
        long.is_empty(),
        "functions over 80 lines:\n{}",
        long.join("\n")
    );
}
