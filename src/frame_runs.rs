//! How the frames of one read reach JS: an `Event::Frames` payload (length-prefixed
//! frames) split into the pieces JS gets, each chosen for what costs JS least.
//!
//! - A lone small frame: a string made by the core (cheaper than a Buffer JS slices).
//! - Runs of small frames: one Buffer, sliced in JS; marked when all ASCII, so JS may
//!   decode it as Latin-1, a plain copy several times faster than UTF-8 decoding.
//! - A large frame: a string of its own, one copy less than decoding it from a Buffer,
//!   with room to lift its large strings out (`json_text::extract_large_strings`).

/// Frames at least this long go to JS on their own, as strings.
pub const LARGE_FRAME: usize = 64 * 1024;
/// V8's longest string (`String::kMaxLength` on 64-bit). A longer frame stays in a Buffer,
/// and decoding it fails in JS for that frame alone.
pub const MAX_JS_STRING: usize = (1 << 29) - 24;

#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
  /// Length-prefixed small frames, as in the payload.
  Run { frames: &'a [u8], ascii: bool },
  /// One frame's bytes, without its prefix.
  One(&'a [u8]),
}

/// The pieces of a payload of length-prefixed frames, in order.
pub fn pieces(data: &[u8]) -> Vec<Piece<'_>> {
  let frame_len = |at: usize| {
    data
      .get(at..at + 4)
      .map(|prefix| u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize)
  };
  if let Some(len) = frame_len(0) {
    if 4 + len == data.len() && len < LARGE_FRAME {
      return vec![Piece::One(&data[4..])];
    }
  }
  let mut out = Vec::new();
  let mut run = 0;
  let mut at = 0;
  while let Some(len) = frame_len(at) {
    let end = at + 4 + len;
    if (LARGE_FRAME..=MAX_JS_STRING).contains(&len) {
      push_run(&mut out, &data[run..at]);
      out.push(Piece::One(&data[at + 4..end]));
      run = end;
    }
    at = end;
  }
  push_run(&mut out, &data[run..]);
  out
}

fn push_run<'a>(out: &mut Vec<Piece<'a>>, frames: &'a [u8]) {
  if !frames.is_empty() {
    out.push(Piece::Run { frames, ascii: frames_are_ascii(frames) });
  }
}

fn frames_are_ascii(mut data: &[u8]) -> bool {
  while data.len() >= 4 {
    let len = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
    let Some(frame) = data.get(4..4 + len) else { return false };
    if !frame.is_ascii() {
      return false;
    }
    data = &data[4 + len..];
  }
  true
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::mailbox::put_frame;

  fn payload(frames: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for frame in frames {
      put_frame(&mut out, frame);
    }
    out
  }

  #[test]
  fn a_lone_small_frame_is_one_piece() {
    let data = payload(&[b"{\"type\":\"a\"}"]);
    assert_eq!(pieces(&data), vec![Piece::One(b"{\"type\":\"a\"}")]);
  }

  #[test]
  fn small_frames_run_together_and_are_marked_ascii_or_not() {
    let data = payload(&[b"a", b"b"]);
    assert_eq!(pieces(&data), vec![Piece::Run { frames: &data, ascii: true }]);
    let data = payload(&[b"a", "\u{e9}".as_bytes()]);
    assert_eq!(pieces(&data), vec![Piece::Run { frames: &data, ascii: false }]);
  }

  #[test]
  fn a_large_frame_goes_alone_between_the_runs_around_it() {
    let large = vec![b'x'; LARGE_FRAME];
    let data = payload(&[b"a", &large, b"b", b"c"]);
    let first = payload(&[b"a"]);
    let last = payload(&[b"b", b"c"]);
    assert_eq!(
      pieces(&data),
      vec![
        Piece::Run { frames: &first, ascii: true },
        Piece::One(&large),
        Piece::Run { frames: &last, ascii: true },
      ]
    );
    let lone = payload(&[&large]);
    assert_eq!(pieces(&lone), vec![Piece::One(&large)], "a lone large frame too");
  }

  #[test]
  fn one_byte_under_the_threshold_stays_in_the_run() {
    let almost = vec![b'x'; LARGE_FRAME - 1];
    let data = payload(&[b"a", &almost]);
    assert_eq!(pieces(&data), vec![Piece::Run { frames: &data, ascii: true }]);
  }
}
