//! The library's layering, checked: each top-level module of `src/` may use only the modules
//! `ARCHITECTURE.md` lists below it. The crates of the workspace are separated by the compiler;
//! inside the library this test is what keeps a lower layer from reaching up (a cycle starts
//! that way). It reads the sources, so it sees code references (`crate::x::…`, `crate::{x, …}`
//! and root re-exports such as `crate::Table`), not doc comments, and skips `#[cfg(test)] mod
//! tests` blocks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level modules, bottom layer first, each with the layers directly below it; a module may
/// use those and, transitively, everything they may use.
const LAYERS: &[(&str, &[&str])] = &[
    ("protocol", &[]),
    ("log", &["protocol"]),
    ("expr", &["protocol"]),
    ("stats", &["protocol"]),
    ("error", &["protocol", "expr", "stats"]),
    ("storage", &["error"]),
    ("snapshot", &["storage", "log"]),
    ("checkpoint", &["snapshot", "stats"]),
    ("transaction", &["checkpoint"]),
    ("read", &["snapshot", "expr"]),
    ("write", &["transaction", "read"]),
    ("ops", &["write"]),
    ("table", &["ops"]),
];

/// What each module may use: the transitive closure of [`LAYERS`].
fn allowed() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let mut allowed: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (module, below) in LAYERS {
        let mut may_use: BTreeSet<&str> = below.iter().copied().collect();
        for lower in *below {
            let inherited = allowed.get(lower).unwrap_or_else(|| {
                panic!("LAYERS lists `{lower}` after `{module}`, which uses it")
            });
            may_use.extend(inherited.iter().copied());
        }
        allowed.insert(module, may_use);
    }
    allowed
}

fn src_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Root re-exports (`pub use module::…::Name;` in lib.rs): name → module.
fn root_exports(lib: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut statement = String::new();
    for line in lib.lines() {
        let line = line.trim();
        if statement.is_empty() && !line.starts_with("pub use ") {
            continue;
        }
        statement.push_str(line);
        statement.push(' ');
        if !line.ends_with(';') {
            continue;
        }
        let body = statement
            .trim_start_matches("pub use ")
            .trim_end_matches([';', ' ']);
        let module = body.split("::").next().unwrap_or_default().to_string();
        let names = match (body.find('{'), body.rfind('}')) {
            (Some(a), Some(b)) => body[a + 1..b].to_string(),
            _ => body.rsplit("::").next().unwrap_or_default().to_string(),
        };
        for name in names.split(',') {
            let name = name.trim().rsplit("::").next().unwrap_or_default();
            if !name.is_empty() {
                out.insert(name.to_string(), module.clone());
            }
        }
        statement.clear();
    }
    out
}

/// Identifiers that follow `crate::`, including the members of `crate::{a, b::c}`.
fn crate_references(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let first = item.trim().split("::").next().unwrap_or_default();
                if !first.is_empty() {
                    out.push(first.to_string());
                }
            }
            continue;
        }
        let ident: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !ident.is_empty() {
            out.push(ident);
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn each_module_uses_only_the_layers_below_it() {
    let src = src_dir();
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let exports = root_exports(&lib);
    let allowed = allowed();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    let mut seen_modules = BTreeSet::new();
    for file in files {
        let relative = file.strip_prefix(&src).expect("under src");
        let Some(first) = relative.iter().next().and_then(|c| c.to_str()) else {
            continue;
        };
        let module = first.trim_end_matches(".rs");
        if module == "lib" {
            continue;
        }
        seen_modules.insert(module.to_string());
        let Some(may_use) = allowed.get(module) else {
            violations.push(format!(
                "{}: module `{module}` is not in LAYERS; give it a layer here and in ARCHITECTURE.md",
                relative.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(&file).expect("read source");
        let code = text
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or_default();
        for (n, line) in code.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for reference in crate_references(line) {
                let target = if allowed.contains_key(reference.as_str()) {
                    reference.clone()
                } else if let Some(m) = exports.get(&reference) {
                    m.clone()
                } else {
                    continue;
                };
                if target != module && !may_use.contains(target.as_str()) {
                    violations.push(format!(
                        "{}:{}: `{module}` uses `{target}` (via crate::{reference}), which is not below it",
                        relative.display(),
                        n + 1
                    ));
                }
            }
        }
    }
    for (module, _) in LAYERS {
        assert!(
            seen_modules.contains(*module),
            "LAYERS names `{module}`, which src/ no longer has"
        );
    }
    assert!(
        violations.is_empty(),
        "layering violations (see ARCHITECTURE.md):\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_checker_sees_every_form_of_reference() {
    assert_eq!(
        crate_references("use crate::{error::Result, snapshot}; let t = crate::Table::open(x);"),
        vec!["error", "snapshot", "Table"]
    );
    let exports = root_exports(
        "pub use table::{CreateBuilder, Table};\npub use snapshot::Snapshot;\npub use protocol::properties::{\n    ColumnMappingMode, TableProperties,\n};",
    );
    assert_eq!(exports["Table"], "table");
    assert_eq!(exports["Snapshot"], "snapshot");
    assert_eq!(exports["TableProperties"], "protocol");
    let allowed = allowed();
    assert!(allowed["table"].contains("protocol") && allowed["write"].contains("read"));
    assert!(!allowed["read"].contains("write") && !allowed["snapshot"].contains("checkpoint"));
    assert!(allowed["protocol"].is_empty());
}
