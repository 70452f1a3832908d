//! The shape ARCHITECTURE.md promises, checked on the sources: dependencies between the
//! library's modules point one way (no cycle), no two sibling files import each other, device
//! choice lives below training, language models and recommenders, and panels never take the
//! whole workbench.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `src/`, as (module path, source without its test module).
fn sources() -> BTreeMap<Vec<String>, String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files
        .into_iter()
        .filter_map(|path| {
            let relative = path.strip_prefix(&root).unwrap().with_extension("");
            let mut module: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            match module.last().map(String::as_str) {
                Some("mod") => {
                    module.pop();
                }
                Some("lib") | Some("main") => return None,
                _ => {}
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Unit tests may reach anywhere; clippy keeps the test module last in a file.
            let code = match text.find("#[cfg(test)]\nmod tests") {
                Some(at) => text[..at].to_string(),
                None => text,
            };
            Some((module, code))
        })
        .collect()
}

/// The module paths `code` (of `module`) names through `crate::` or `super::`, resolved to
/// the longest prefix that is a known module.
fn references(
    module: &[String],
    code: &str,
    known: &BTreeSet<Vec<String>>,
) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    let segments_after = |at: usize| -> Vec<String> {
        code[at..]
            .split("::")
            .map(|s| {
                s.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .take_while(|s| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_lowercase() || c == '_' || c.is_ascii_digit())
            })
            .collect()
    };
    let mut resolve = |base: Vec<String>, rest: Vec<String>| {
        for end in (0..=rest.len()).rev() {
            let mut candidate = base.clone();
            candidate.extend_from_slice(&rest[..end]);
            if known.contains(&candidate) {
                out.insert(candidate);
                return;
            }
        }
    };
    for (at, _) in code.match_indices("crate::") {
        resolve(Vec::new(), segments_after(at + "crate::".len()));
    }
    for (at, _) in code.match_indices("super::") {
        // A module's `super` is its path less the last segment (for `a/mod.rs`, module `a`,
        // and for `a/b.rs`, module `a::b`, alike).
        let mut parent = module.to_vec();
        parent.pop();
        resolve(parent, segments_after(at + "super::".len()));
    }
    out
}

struct Graph {
    /// Top-level module → the top-level modules it imports.
    top: BTreeMap<String, BTreeSet<String>>,
    /// File module → the modules it imports (any level).
    files: BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
}

fn graph() -> Graph {
    let sources = sources();
    let known: BTreeSet<Vec<String>> = sources.keys().cloned().collect();
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = BTreeMap::new();
    for (module, code) in &sources {
        let refs = references(module, code, &known);
        for target in &refs {
            if target[0] != module[0] {
                top.entry(module[0].clone())
                    .or_default()
                    .insert(target[0].clone());
            }
        }
        files.insert(module.clone(), refs);
    }
    Graph { top, files }
}

/// A cycle through `start` in `edges`, if any (depth-first).
fn cycle_from(start: &str, edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        start: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in edges.get(node).into_iter().flatten() {
            if next == start {
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if visit(next, start, edges, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    visit(start, start, edges, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn library_modules_depend_one_way() {
    let graph = graph();
    // The app and the command line sit on top: nothing below may import them.
    for (module, imports) in &graph.top {
        assert!(
            !imports.contains("app") && !imports.contains("cli"),
            "{module} imports the app or the command line"
        );
    }
    for module in graph.top.keys() {
        if let Some(cycle) = cycle_from(module, &graph.top) {
            panic!(
                "modules import each other in a circle: {}",
                cycle.join(" → ")
            );
        }
    }
    // The graph is real: the engine does import what it is built on.
    assert!(graph.top["train"].contains("device"));
    assert!(graph.top["recommend"].contains("lm"));
}

#[test]
fn no_two_files_import_each_other() {
    let graph = graph();
    for (a, imports) in &graph.files {
        for b in imports {
            // A folder module declares its files: a file using its parent's items is the one
            // direction Rust itself gives, not a circle.
            let parent_child = a.starts_with(b) || b.starts_with(a);
            if a < b && !parent_child && graph.files.get(b).is_some_and(|back| back.contains(a)) {
                panic!("{} and {} import each other", a.join("::"), b.join("::"));
            }
        }
    }
}

#[test]
fn device_choice_lives_below_training_models_and_recommenders() {
    for (module, code) in sources() {
        if ["app", "cli", "train"].contains(&module[0].as_str()) {
            continue;
        }
        for name in ["train::DeviceChoice", "train::Resolved", "train::device"] {
            assert!(
                !code.contains(name),
                "{} takes its device choice from train ({name}); it lives in crate::device",
                module.join("::")
            );
        }
    }
}

#[test]
fn panels_draw_on_a_narrow_context() {
    let sources = sources();
    let panels: Vec<_> = sources
        .iter()
        .filter(|(module, _)| {
            module[0] == "app" && module.last().is_some_and(|m| m == "panel" || m == "bars")
        })
        .collect();
    assert!(panels.len() >= 7, "the panels were not found");
    for (module, code) in panels {
        assert!(
            !code.contains("Workbench"),
            "{} reaches the whole Workbench; a panel takes a PanelContext and its own state",
            module.join("::")
        );
    }
    let shell = &sources[&vec!["app".to_string()]];
    assert!(
        shell.lines().count() <= 400,
        "src/app/mod.rs is the shell (window, frame loop, routing): {} lines, keep it under 400",
        shell.lines().count()
    );
}
