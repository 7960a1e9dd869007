//! JSON string literals for large strings, made without `JSON.stringify`.
//!
//! V8's `JSON.stringify` escapes a string at a few hundred MB/s on the JS thread, which caps
//! how fast a process can send large string payloads. The shim serialises the small rest
//! of the message itself and hands large strings over as UTF-8 (see `binding/text.rs`);
//! this module turns those bytes into the exact literal `JSON.stringify` would have made.
//!
//! On receipt it does the reverse for `JSON.parse`: [`extract_large_strings`] lifts large
//! string values out of a frame so that JS parses a small skeleton and gets the strings
//! as they are (see `lib/message.js`, `parseFrame`).

/// String values this long are written by the core when sent, and lifted out of large
/// frames when received (lib/message.js reads it through the binding's `contract()`).
pub const LARGE_STRING: usize = 64 * 1024;

/// True when the bytes hold a character `JSON.stringify` escapes: `"`, `\` or a control
/// character below U+0020. Written as a branch-free fold over fixed blocks so that it
/// compiles to vector code: it runs over every byte of every large string.
fn needs_escape(bytes: &[u8]) -> bool {
  let flag = |b: u8| (b < 0x20) | (b == b'"') | (b == b'\\');
  let mut blocks = bytes.chunks_exact(64);
  for block in &mut blocks {
    if block.iter().fold(false, |acc, &b| acc | flag(b)) {
      return true;
    }
  }
  blocks.remainder().iter().any(|&b| flag(b))
}

/// U+FFFD in UTF-8. V8 writes a lone surrogate as this character, where `JSON.stringify`
/// writes an escape (`\ud800`) that gives the surrogate back to the receiver; a string
/// holding it takes the `JSON.stringify` path instead so that both stay byte for byte.
const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();

fn may_hold_lone_surrogate(utf8: &[u8]) -> bool {
  memchr::memmem::find(utf8, REPLACEMENT).is_some()
}

/// Turns what follows an opening quote at `out[start - 1]`, a string's UTF-8 as V8 wrote it,
/// into the literal `JSON.stringify` makes of that string. False, leaving `out` as it is,
/// when the string may hold a lone surrogate: only `JSON.stringify` can write that one.
pub fn close_literal(out: &mut Vec<u8>, start: usize) -> bool {
  let written = &out[start..];
  if may_hold_lone_surrogate(written) {
    return false;
  }
  if needs_escape(written) {
    let text = match String::from_utf8(out.split_off(start)) {
      Ok(text) => text,
      Err(invalid) => {
        // V8 writes valid UTF-8; should it not, JSON.stringify takes over.
        out.extend_from_slice(invalid.as_bytes());
        return false;
      }
    };
    out.pop();
    push_literal(out, &text);
  } else {
    out.push(b'"');
  }
  true
}

/// Stands in for a string taken out of a frame (both ways, see `lib/message.js`), random
/// per process so that no peer can make a string of its own look like one.
pub fn process_mark() -> &'static str {
  static MARK: std::sync::OnceLock<String> = std::sync::OnceLock::new();
  MARK.get_or_init(|| {
    use std::hash::BuildHasher;
    format!("node-ipc-rs:{:016x}:", std::hash::RandomState::new().hash_one(std::process::id()))
  })
}

/// Appends `text` as a JSON string literal, quotes included, escaped as `JSON.stringify`
/// escapes well-formed strings (short escapes for `\b\f\n\r\t"\\`, `\u00xx` for other
/// control characters, everything else as it is).
pub fn push_literal(out: &mut Vec<u8>, text: &str) {
  if !needs_escape(text.as_bytes()) {
    out.reserve(text.len() + 2);
    out.push(b'"');
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
    return;
  }
  // serde_json's escaping is JSON.stringify's for well-formed strings.
  serde_json::to_writer(&mut *out, text).expect("writing to a Vec cannot fail");
}

/// A frame with its large string values taken out: `skeleton` is the frame with each such
/// literal replaced by `"<mark><n>"`, `strings[n]` its content.
#[derive(Debug, PartialEq)]
pub struct Extracted<'a> {
  pub skeleton: Vec<u8>,
  pub strings: Vec<&'a str>,
}

/// What may stay of a frame once its large strings are out: JS revives every value of
/// the skeleton, so a large skeleton would cost more than it saves.
fn skeleton_limit(extracted: usize) -> usize {
  (extracted / 16).max(4096)
}

/// Takes out the string values of at least `min_len` bytes that hold no escape and no
/// control character (their content is then their value, byte for byte). Keys stay, as
/// does every literal that JSON.parse must see to report an error; so swapping the marks
/// back gives the frame itself, and JS can rebuild it when the skeleton does not parse.
/// None when nothing was taken out or the skeleton would still be large.
pub fn extract_large_strings<'a>(frame: &'a [u8], mark: &[u8], min_len: usize) -> Option<Extracted<'a>> {
  let mut skeleton = Vec::new();
  let mut strings = Vec::new();
  let mut copied = 0;
  let mut at = 0;
  let mut extracted = 0;
  // Outside literals JSON has no quotes or backslashes, so the next quote opens one.
  while let Some(found) = memchr::memchr(b'"', &frame[at..]) {
    let open = at + found;
    let mut scan = open + 1;
    let mut escaped = false;
    let close = loop {
      let found = memchr::memchr2(b'"', b'\\', frame.get(scan..)?)?;
      if frame[scan + found] == b'"' {
        break scan + found;
      }
      escaped = true;
      scan += found + 2;
    };
    at = close + 1;
    let content = &frame[open + 1..close];
    if content.len() < min_len || escaped || is_key(&frame[at..]) || content.iter().any(|&b| b < 0x20) {
      continue;
    }
    let Ok(text) = std::str::from_utf8(content) else { continue };
    skeleton.extend_from_slice(&frame[copied..open]);
    skeleton.push(b'"');
    skeleton.extend_from_slice(mark);
    skeleton.extend_from_slice(strings.len().to_string().as_bytes());
    skeleton.push(b'"');
    copied = at;
    extracted += content.len();
    strings.push(text);
  }
  if strings.is_empty() {
    return None;
  }
  skeleton.extend_from_slice(&frame[copied..]);
  (skeleton.len() <= skeleton_limit(extracted)).then_some(Extracted { skeleton, strings })
}

/// True when the literal that ended just before `rest` is an object key.
fn is_key(rest: &[u8]) -> bool {
  rest.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')) == Some(&b':')
}

#[cfg(test)]
mod tests {
  use super::*;
  use proptest::prelude::*;

  fn literal(text: &str) -> String {
    let mut out = Vec::new();
    push_literal(&mut out, text);
    String::from_utf8(out).unwrap()
  }

  #[test]
  fn escapes_like_json_stringify() {
    // Expected values are what Node 20's JSON.stringify returns for the same input.
    assert_eq!(literal("plain"), r#""plain""#);
    assert_eq!(literal("a\"b\\c"), r#""a\"b\\c""#);
    assert_eq!(literal("\u{8}\u{c}\n\r\t"), r#""\b\f\n\r\t""#);
    assert_eq!(literal("\u{0}\u{1f}\u{7f}"), "\"\\u0000\\u001f\u{7f}\"");
    assert_eq!(literal("é€😀\u{2028}"), "\"é€😀\u{2028}\"");
  }

  #[test]
  fn finds_escapes_at_every_position_of_a_block() {
    for len in [1, 63, 64, 65, 130] {
      for at in 0..len {
        for special in [b'"', b'\\', 0u8, 0x1f] {
          let mut bytes = vec![b'y'; len];
          bytes[at] = special;
          assert!(needs_escape(&bytes), "len {len} at {at} byte {special}");
        }
      }
      assert!(!needs_escape(&vec![b'y'; len]));
      assert!(!needs_escape("é€😀\u{7f}".repeat(len).as_bytes()));
    }
  }

  #[test]
  fn closes_literals_as_json_stringify_writes_them() {
    for (text, want) in [("plain", Some(r#""plain""#)), ("a\"b\n", Some(r#""a\"b\n""#)), ("x\u{FFFD}", None)]
    {
      let mut out = b"[\"".to_vec();
      out.extend_from_slice(text.as_bytes());
      let closed = close_literal(&mut out, 2);
      assert_eq!(closed, want.is_some(), "{text}");
      let want = want.map_or(format!("[\"{text}"), |w| format!("[{w}"));
      assert_eq!(String::from_utf8(out).unwrap(), want);
    }
  }

  #[test]
  fn spots_the_replacement_character() {
    assert!(may_hold_lone_surrogate("ab\u{FFFD}".as_bytes()));
    assert!(!may_hold_lone_surrogate("ab\u{FFFE}c".as_bytes()));
  }

  const MARK: &[u8] = b"m:";

  fn extract(frame: &str, min: usize) -> Option<(String, Vec<&str>)> {
    extract_large_strings(frame.as_bytes(), MARK, min)
      .map(|e| (String::from_utf8(e.skeleton).unwrap(), e.strings))
  }

  #[test]
  fn takes_out_large_plain_string_values() {
    let big = "y".repeat(50);
    let frame = format!(r#"{{"type":"t","data":{{"i":1,"a":"{big}","b":["{big}é"],"s":"small"}}}}"#);
    let (skeleton, strings) = extract(&frame, 40).unwrap();
    assert_eq!(skeleton, r#"{"type":"t","data":{"i":1,"a":"m:0","b":["m:1"],"s":"small"}}"#);
    assert_eq!(strings, vec![big.clone(), format!("{big}é")]);
  }

  #[test]
  fn leaves_keys_escapes_controls_and_short_strings() {
    let big = "y".repeat(50);
    for frame in [
      format!(r#"{{"{big}" : 1}}"#),
      format!(
        r#"{{"a":"{big}
"}}"#
      ),
      format!("{{\"a\":\"{big}\u{1}\"}}"),
      r#"{"a":"short"}"#.to_string(),
    ] {
      assert_eq!(extract(&frame, 40), None, "{frame}");
    }
  }

  #[test]
  fn escaped_quotes_do_not_end_a_literal() {
    let big = "y".repeat(50);
    let frame = format!(r#"{{"a":"x\"{big}","b":"{big}"}}"#);
    let (skeleton, strings) = extract(&frame, 40).unwrap();
    assert_eq!(skeleton, format!(r#"{{"a":"x\"{big}","b":"m:0"}}"#));
    assert_eq!(strings, vec![big.as_str()]);
  }

  #[test]
  fn a_large_skeleton_keeps_its_strings() {
    let big = "y".repeat(5000);
    let frame = format!(r#"{{"pad":[{}],"a":"{big}"}}"#, "1,".repeat(3000) + "1");
    assert_eq!(extract(&frame, 1000), None);
    let frame = format!(r#"{{"pad":[{}],"a":"{big}"}}"#, "1,".repeat(10) + "1");
    assert!(extract(&frame, 1000).is_some());
  }

  #[test]
  fn unterminated_literals_are_left_to_json_parse() {
    assert_eq!(extract(&format!(r#"{{"a":"{}"#, "y".repeat(50)), 40), None);
    assert_eq!(extract(&format!(r#"{{"a":"{}\"#, "y".repeat(50)), 40), None);
  }

  proptest! {
    /// Swapping the marks back gives the frame, whatever the bytes.
    #[test]
    fn extraction_is_reversible(parts in proptest::collection::vec(
      prop_oneof![Just("\"".to_string()), Just("\\".to_string()), Just(":".to_string()), "[a-z{}\\[\\],é]{0,12}"],
      0..40,
    )) {
      let frame = parts.concat();
      if let Some(e) = extract_large_strings(frame.as_bytes(), b"\x01", 3) {
        let mut back = String::from_utf8(e.skeleton).unwrap();
        for (n, s) in e.strings.iter().enumerate() {
          back = back.replacen(&format!("\"\x01{n}\""), &format!("\"{s}\""), 1);
        }
        prop_assert_eq!(back, frame);
      }
    }

    #[test]
    fn literal_parses_back_to_the_same_string(text in any::<String>()) {
      let out = literal(&text);
      let back: String = serde_json::from_str(&out).unwrap();
      prop_assert_eq!(back, text);
    }

    #[test]
    fn fast_check_agrees_with_a_plain_scan(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
      let slow = bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
      prop_assert_eq!(needs_escape(&bytes), slow);
    }

  }
  /// JSON values with strings long enough to be taken out (and some with escapes).
  fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
      Just(Value::Null),
      any::<bool>().prop_map(Value::Bool),
      any::<i32>().prop_map(Value::from),
      "[a-zé\"\\\n]{0,8}".prop_map(Value::String),
      ("[a-zé€😀]{1,3}", 20usize..60).prop_map(|(unit, n)| Value::String(unit.repeat(n))),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
      prop_oneof![
        proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
        proptest::collection::vec(("[a-z\"]{0,4}|k{30,40}", inner), 0..6)
          .prop_map(|fields| serde_json::Value::Object(fields.into_iter().collect())),
      ]
    })
  }

  /// Parses a skeleton and puts the strings back where their marks are.
  fn revive(value: serde_json::Value, strings: &[&str]) -> serde_json::Value {
    use serde_json::Value;
    match value {
      Value::String(s) => match s.strip_prefix("\u{1}mark:").and_then(|n| n.parse::<usize>().ok()) {
        Some(n) => Value::String(strings[n].to_string()),
        None => Value::String(s),
      },
      Value::Array(items) => Value::Array(items.into_iter().map(|v| revive(v, strings)).collect()),
      Value::Object(fields) => {
        Value::Object(fields.into_iter().map(|(k, v)| (k, revive(v, strings))).collect())
      }
      other => other,
    }
  }

  proptest! {
    /// What JS rebuilds from the skeleton (JSON.parse with a reviver, lib/message.js) is
    /// the value of the frame, compact or pretty-printed.
    #[test]
    fn the_skeleton_revives_to_the_same_value(value in json_value(), pretty in any::<bool>()) {
      let frame = if pretty { serde_json::to_string_pretty(&value) } else { serde_json::to_string(&value) }.unwrap();
      if let Some(e) = extract_large_strings(frame.as_bytes(), b"\\u0001mark:", 20) {
        prop_assert!(e.strings.iter().all(|s| s.len() >= 20));
        let skeleton: serde_json::Value = serde_json::from_slice(&e.skeleton).unwrap();
        prop_assert_eq!(revive(skeleton, &e.strings), value);
      }
    }
  }
}
