//! docs/operations.md and the binary's `--help` agree: every `syncbridge …` command line in the
//! document's code blocks names a command that exists (down to a leaf: `dlq list`, not `dlq`), and
//! every `--flag` it uses appears in that command's `--help`. A renamed flag or command then
//! fails here instead of in an operator's terminal during an incident.
//!
//! Command lines are found wherever `syncbridge` is a word of a code-block line (so
//! `kubectl exec deploy/syncbridge-worker -- syncbridge dlq list …` counts, `syncbridge-demo`
//! does not); `\` continuations are joined and `# comments` dropped.

use std::collections::HashMap;

use crate::binary::run;

/// The document, from the repository root (this test target lives in crates/service).
fn document() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/operations.md");
    std::fs::read_to_string(path).expect("docs/operations.md")
}

/// The lines of every fenced code block, continuations joined, comments dropped.
fn code_lines(doc: &str) -> Vec<String> {
    let (mut lines, mut inside, mut pending) = (Vec::new(), false, String::new());
    for line in doc.lines() {
        if line.trim_start().starts_with("```") {
            inside = !inside;
            continue;
        }
        if !inside {
            continue;
        }
        let line = match line.find(" #") {
            Some(at) => &line[..at],
            None if line.trim_start().starts_with('#') => "",
            None => line,
        };
        match line.trim_end().strip_suffix('\\') {
            Some(head) => pending.push_str(head),
            None => {
                pending.push_str(line);
                lines.push(std::mem::take(&mut pending));
            }
        }
    }
    lines
}

/// The words after each `syncbridge` in `line`, up to a shell separator.
fn invocations(line: &str) -> Vec<Vec<String>> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut found = Vec::new();
    for (at, word) in words.iter().enumerate() {
        if *word == "syncbridge" || word.ends_with("/syncbridge") {
            let args = words[at + 1..]
                .iter()
                .take_while(|w| !matches!(**w, "|" | "||" | "&&" | ";" | ">" | "2>&1"))
                .map(|w| w.trim_matches(|c| c == '"' || c == '\'').to_owned())
                .collect();
            found.push(args);
        }
    }
    found
}

/// The subcommands a `--help` output lists under "Commands:" (empty for a leaf).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// `syncbridge <path> --help`, once per path.
async fn help(cache: &mut HashMap<Vec<String>, String>, path: &[String]) -> String {
    if let Some(text) = cache.get(path) {
        return text.clone();
    }
    let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
    args.push("--help");
    let (ok, out, err) = run(&args).await;
    assert!(ok, "syncbridge {} --help failed: {err}", path.join(" "));
    cache.insert(path.to_vec(), out.clone());
    out
}

#[tokio::test]
async fn every_command_in_operations_md_exists_with_its_flags() {
    let doc = document();
    let mut cache = HashMap::new();
    let mut problems = Vec::new();
    let mut checked = 0;
    for line in code_lines(&doc) {
        for args in invocations(&line) {
            // Walk down the command tree as far as the words name subcommands.
            let mut path: Vec<String> = Vec::new();
            let mut rest = args.iter();
            let mut text = help(&mut cache, &path).await;
            for word in rest.by_ref() {
                if !subcommands(&text).contains(word) {
                    if path.is_empty() || !subcommands(&text).is_empty() {
                        problems.push(format!("`{line}`: `{word}` is not a command here"));
                    }
                    break;
                }
                path.push(word.clone());
                text = help(&mut cache, &path).await;
            }
            if path.is_empty() || !subcommands(&text).is_empty() {
                problems.push(format!("`{line}`: incomplete command"));
                continue;
            }
            for flag in args.iter().filter(|w| w.starts_with("--")) {
                let name = flag.split('=').next().unwrap_or(flag);
                let listed = text
                    .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
                    .any(|w| w == name);
                if !listed {
                    problems.push(format!(
                        "`{line}`: `{name}` is not in `syncbridge {} --help`",
                        path.join(" ")
                    ));
                }
            }
            checked += 1;
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The runbooks use a couple of dozen commands; finding few means the parsing broke.
    assert!(checked >= 15, "only {checked} syncbridge commands found");
}

/// The extraction itself, on a small document: continuations, comments, wrappers, separators.
#[test]
fn command_lines_are_found_in_code_blocks_only() {
    let doc = "syncbridge prose --ignored\n```sh\n\
               kubectl exec deploy/w -- syncbridge dlq list --tenant a \\\n  --limit 5 # why\n\
               syncbridge-demo --duration 1s\n# syncbridge commented --out\n\
               syncbridge tenant pause --tenant a && syncbridge tenant resume --tenant a\n```\n";
    let found: Vec<Vec<String>> = code_lines(doc)
        .iter()
        .flat_map(|l| invocations(l))
        .collect();
    let words = |s: &str| s.split(' ').map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(
        found,
        vec![
            words("dlq list --tenant a --limit 5"),
            words("tenant pause --tenant a"),
            words("tenant resume --tenant a"),
        ]
    );
}

/// Every test a runbook cites as "exercised by" (`path/to/file.rs::test_name`) exists: the file,
/// and a function of that name in it. A renamed or removed test then fails here, not silently
/// leaving a runbook unexercised.
#[test]
fn every_test_a_runbook_cites_exists() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let doc = document();
    let mut cited = 0;
    let mut problems = Vec::new();
    for span in doc.split('`').skip(1).step_by(2) {
        let Some((file, test)) = span.split_once(".rs::") else {
            continue;
        };
        let path = format!("{root}/{file}.rs");
        match std::fs::read_to_string(&path) {
            Ok(text) if text.contains(&format!("fn {test}(")) => cited += 1,
            Ok(_) => problems.push(format!("{file}.rs has no test `{test}`")),
            Err(_) => problems.push(format!("{file}.rs does not exist")),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(cited >= 10, "only {cited} cited tests found");
}
