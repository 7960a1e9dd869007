//! The modules of `src/` depend on each other in one direction only (the table in lib.rs):
//! every `crate::` and `super::` path, in `use` lines and inline in code, is an edge, and
//! the graph must have no cycle. Test modules inside a file and comments are not counted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module name of a source file: `src/codec.rs` -> `codec`, `src/binding/mod.rs` ->
/// `binding`, `src/binding/uv.rs` -> `binding::uv`.
fn module_of(relative: &Path) -> String {
  let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
  let file = parts.pop().unwrap();
  let stem = file.trim_end_matches(".rs").to_string();
  if stem != "mod" {
    parts.push(stem);
  }
  parts.join("::")
}

fn source_files(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
  for entry in std::fs::read_dir(dir).unwrap() {
    let path = entry.unwrap().path();
    if path.is_dir() {
      source_files(&path, root, out);
    } else if path.extension().is_some_and(|e| e == "rs") {
      let module = module_of(path.strip_prefix(root).unwrap());
      out.push((module, std::fs::read_to_string(&path).unwrap()));
    }
  }
}

/// The code of a file without its trailing test modules and without comments (a doc link
/// to a module above is no dependency).
fn code_of(text: &str) -> String {
  let text = match text.find("#[cfg(test)]\nmod tests") {
    Some(at) => &text[..at],
    None => text,
  };
  text.lines().map(|line| line.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// Every module a file's code names through `crate::` or `super::`, as a module of the graph.
fn references(module: &str, code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
  let parent: Vec<&str> = module.split("::").collect();
  let parent = parent[..parent.len().saturating_sub(1)].join("::");
  let mut found = BTreeSet::new();
  for (prefix, base) in [("crate::", String::new()), ("super::", parent)] {
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
      // Not part of a longer identifier (`my_crate::`).
      let before = rest[..at].chars().next_back();
      rest = &rest[at + prefix.len()..];
      if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
        continue;
      }
      let path: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
      let mut target = base.clone();
      // The longest module the path names (`binding::uv::HandleBox` -> `binding::uv`).
      let mut best = None;
      for segment in path.split("::").filter(|s| !s.is_empty()) {
        target = if target.is_empty() { segment.to_string() } else { format!("{target}::{segment}") };
        if modules.contains(&target) {
          best = Some(target.clone());
        }
      }
      if let Some(target) = best {
        if target != module {
          found.insert(target);
        }
      }
    }
  }
  found
}

#[test]
fn the_modules_of_src_form_no_cycle() {
  let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
  let mut files = Vec::new();
  source_files(&root, &root, &mut files);
  let files: Vec<_> = files.into_iter().filter(|(m, _)| m != "lib" && !m.ends_with("_tests")).collect();
  let modules: BTreeSet<String> = files.iter().map(|(m, _)| m.clone()).collect();
  assert!(modules.contains("registry") && modules.contains("binding::js_thread"), "{modules:?}");
  let graph: BTreeMap<String, BTreeSet<String>> =
    files.iter().map(|(m, text)| (m.clone(), references(m, &code_of(text), &modules))).collect();
  assert!(graph["connection"].contains("registry"), "edges are found: {:?}", graph["connection"]);

  if let Some(cycle) = find_cycle(&graph) {
    panic!("import cycle: {}", cycle.join(" -> "));
  }
}

/// A cycle of the graph, as the modules along it, if it has one (depth-first search: a
/// module met again while still on the path closes a cycle).
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
  fn visit(
    module: &str,
    graph: &BTreeMap<String, BTreeSet<String>>,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
  ) -> Option<Vec<String>> {
    if done.contains(module) {
      return None;
    }
    if let Some(at) = path.iter().position(|m| m == module) {
      let mut cycle = path[at..].to_vec();
      cycle.push(module.to_string());
      return Some(cycle);
    }
    path.push(module.to_string());
    for next in graph.get(module).into_iter().flatten() {
      if let Some(cycle) = visit(next, graph, path, done) {
        return Some(cycle);
      }
    }
    path.pop();
    done.insert(module.to_string());
    None
  }
  let mut done = BTreeSet::new();
  graph.keys().find_map(|module| visit(module, graph, &mut Vec::new(), &mut done))
}

#[test]
fn references_and_cycles_are_found() {
  let graph: BTreeMap<String, BTreeSet<String>> = [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a"])]
    .into_iter()
    .map(|(m, to)| (m.to_string(), to.into_iter().map(String::from).collect()))
    .collect();
  assert_eq!(find_cycle(&graph), Some(vec!["a", "b", "c", "a"].into_iter().map(String::from).collect()));
  let mut acyclic = graph.clone();
  acyclic.get_mut("c").unwrap().clear();
  assert_eq!(find_cycle(&acyclic), None);

  let modules: BTreeSet<String> = ["a", "b", "binding", "binding::x"].iter().map(|s| s.to_string()).collect();
  assert_eq!(references("a", "use crate::b::Thing;", &modules), BTreeSet::from(["b".to_string()]));
  assert_eq!(
    references("binding::x", "super::binding_helper(); crate::a::f()", &modules),
    BTreeSet::from(["a".to_string()])
  );
  assert_eq!(
    references("binding", "use super::x::Y;", &modules),
    BTreeSet::new(),
    "binding's super is the crate root"
  );
  assert_eq!(references("a", "not_crate::b", &modules), BTreeSet::new());
}
