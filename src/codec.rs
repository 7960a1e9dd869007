//! Splitting a byte stream into delimiter-terminated frames.
//!
//! node-ipc v9 frames every JSON message as `JSON.stringify(msg) + delimiter`. The decoder
//! works on raw bytes, so a frame split anywhere (even inside a multi-byte UTF-8 sequence)
//! reassembles; an ASCII delimiter can never occur inside a multi-byte UTF-8 sequence, so
//! splitting on bytes is the same as splitting on characters.

use memchr::memmem;

/// A frame, or the start of one, grew past the configured limit (`maxMessageSize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameTooLarge {
  /// Bytes seen for the offending frame so far (a lower bound when it is incomplete).
  pub size: usize,
  pub limit: usize,
}

impl std::fmt::Display for FrameTooLarge {
  fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    write!(f, "message of at least {} bytes exceeds maxMessageSize ({} bytes)", self.size, self.limit)
  }
}

impl std::error::Error for FrameTooLarge {}

/// Incremental delimiter splitter. It remembers how far it has scanned, so bytes that
/// arrive in many small reads are searched once: a large message costs O(n), not O(n²)
/// (v9 re-scanned the whole buffer on every chunk).
#[derive(Debug, Clone)]
pub struct FrameDecoder {
  finder: memmem::Finder<'static>,
  delimiter_len: usize,
  /// `None` disables the limit (`maxMessageSize: Infinity`).
  max_frame: Option<usize>,
  /// Bytes at the start of the pending buffer already known to hold no delimiter start.
  scanned: usize,
}

impl FrameDecoder {
  /// An empty delimiter cannot frame anything; callers validate it first, and this
  /// panics rather than loop forever.
  pub fn new(delimiter: &[u8], max_frame: Option<usize>) -> Self {
    assert!(!delimiter.is_empty(), "frame delimiter must not be empty");
    Self {
      finder: memmem::Finder::new(delimiter).into_owned(),
      delimiter_len: delimiter.len(),
      max_frame,
      scanned: 0,
    }
  }

  /// Finds the first complete frame in `buf`, which must start where the previous frame
  /// ended. Returns the frame length (without delimiter); the caller drops
  /// `frame + delimiter` bytes from the front of its buffer before the next call.
  pub fn next_frame(&mut self, buf: &[u8]) -> Result<Option<usize>, FrameTooLarge> {
    let start = self.scanned.min(buf.len());
    match self.finder.find(&buf[start..]) {
      Some(pos) => {
        let len = start + pos;
        self.scanned = 0;
        match self.max_frame {
          Some(limit) if len > limit => Err(FrameTooLarge { size: len, limit }),
          _ => Ok(Some(len)),
        }
      }
      None => {
        // A delimiter may straddle the end of what we have: rescan its possible start.
        self.scanned = buf.len().saturating_sub(self.delimiter_len - 1);
        match self.max_frame {
          // Even if the next bytes were the delimiter, the frame would already be too long.
          Some(limit) if buf.len() > limit + self.delimiter_len - 1 => {
            Err(FrameTooLarge { size: buf.len() - (self.delimiter_len - 1), limit })
          }
          _ => Ok(None),
        }
      }
    }
  }

  pub fn delimiter_len(&self) -> usize {
    self.delimiter_len
  }

  /// After [`FrameTooLarge`] for a buffer that holds whole messages (a datagram): the bytes
  /// to skip to the end of the oversized frame and its delimiter, or `None` when it has no
  /// delimiter (it runs to the end). Scanning starts afresh after it.
  pub fn skip_frame(&mut self, buf: &[u8]) -> Option<usize> {
    self.scanned = 0;
    self.finder.find(buf).map(|pos| pos + self.delimiter_len)
  }

  /// Calls `on_frame` for every complete frame at the front of `buf`, in order, and
  /// returns how many bytes those frames (with their delimiters) took. Nothing is copied.
  pub fn drain<F: FnMut(&[u8])>(&mut self, buf: &[u8], mut on_frame: F) -> Result<usize, FrameTooLarge> {
    let mut consumed = 0;
    while let Some(len) = self.next_frame(&buf[consumed..])? {
      on_frame(&buf[consumed..consumed + len]);
      consumed += len + self.delimiter_len;
    }
    Ok(consumed)
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  /// Feeds `chunks` one after another the way a read loop does and collects frames.
  fn feed(decoder: &mut FrameDecoder, chunks: &[&[u8]]) -> Result<Vec<Vec<u8>>, FrameTooLarge> {
    let mut pending = Vec::new();
    let mut frames = Vec::new();
    for chunk in chunks {
      pending.extend_from_slice(chunk);
      let used = decoder.drain(&pending, |f| frames.push(f.to_vec()))?;
      pending.drain(..used);
    }
    Ok(frames)
  }

  #[test]
  fn splits_several_frames_in_one_chunk_in_order() {
    let mut d = FrameDecoder::new(b"\x0c", None);
    let frames = feed(&mut d, &[b"{\"a\":1}\x0c{\"b\":2}\x0c{\"c\""]).unwrap();
    assert_eq!(frames, vec![b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()]);
  }

  #[test]
  fn delivers_a_complete_frame_before_the_chunk_ends_on_a_delimiter() {
    // v9 held frame 5 back until a chunk ended exactly on a delimiter.
    let mut d = FrameDecoder::new(b"\x0c", None);
    let frames = feed(&mut d, &[b"five\x0csi"]).unwrap();
    assert_eq!(frames, vec![b"five".to_vec()]);
  }

  #[test]
  fn any_split_of_a_stream_gives_the_same_frames() {
    let stream = "{\"type\":\"é\",\"data\":\"\u{2028}x\"}\x0c\x0c{\"n\":1}\x0c".as_bytes();
    let whole = feed(&mut FrameDecoder::new(b"\x0c", None), &[stream]).unwrap();
    assert_eq!(whole.len(), 3);
    for cut in 0..=stream.len() {
      let (a, b) = stream.split_at(cut);
      let got = feed(&mut FrameDecoder::new(b"\x0c", None), &[a, b]).unwrap();
      assert_eq!(got, whole, "cut at {cut}");
    }
    let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(feed(&mut FrameDecoder::new(b"\x0c", None), &bytewise).unwrap(), whole);
  }

  #[test]
  fn multi_byte_delimiter_split_across_reads() {
    let mut d = FrameDecoder::new(b"\r\n", None);
    let frames = feed(&mut d, &[b"one\r", b"\ntwo\r", b"\n\r", b"\n"]).unwrap();
    assert_eq!(frames, vec![b"one".to_vec(), b"two".to_vec(), b"".to_vec()]);
  }

  #[test]
  fn empty_frames_are_reported_as_frames() {
    let mut d = FrameDecoder::new(b"\x0c", None);
    assert_eq!(feed(&mut d, &[b"\x0c\x0c"]).unwrap(), vec![Vec::<u8>::new(), Vec::new()]);
  }

  #[test]
  fn limit_accepts_exactly_the_limit_and_rejects_one_more() {
    let mut d = FrameDecoder::new(b"\x0c", Some(4));
    assert_eq!(feed(&mut d, &[b"abcd\x0c"]).unwrap(), vec![b"abcd".to_vec()]);
    let mut d = FrameDecoder::new(b"\x0c", Some(4));
    assert_eq!(feed(&mut d, &[b"abc\x0c"]).unwrap(), vec![b"abc".to_vec()]);
    let mut d = FrameDecoder::new(b"\x0c", Some(4));
    assert_eq!(feed(&mut d, &[b"abcde\x0c"]), Err(FrameTooLarge { size: 5, limit: 4 }));
  }

  #[test]
  fn limit_rejects_an_incomplete_frame_as_soon_as_it_cannot_fit() {
    let mut d = FrameDecoder::new(b"\x0c", Some(4));
    assert_eq!(feed(&mut d, &[b"abcd"]).unwrap(), Vec::<Vec<u8>>::new());
    let mut d = FrameDecoder::new(b"\x0c", Some(4));
    assert!(feed(&mut d, &[b"ab", b"cde"]).is_err());
    // With a two-byte delimiter, "abcd\r" may still become a 4-byte frame.
    let mut d = FrameDecoder::new(b"\r\n", Some(4));
    assert_eq!(feed(&mut d, &[b"abcd\r"]).unwrap(), Vec::<Vec<u8>>::new());
    let mut d = FrameDecoder::new(b"\r\n", Some(4));
    assert!(feed(&mut d, &[b"abcd\rx"]).is_err());
  }

  /// CI replays the committed fuzz corpus (`fuzz/corpus/frame_decoder`) through the same
  /// property the fuzz target checks.
  #[test]
  fn fuzz_corpus_replays_clean() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/frame_decoder");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).expect("committed corpus") {
      let input = std::fs::read(entry.unwrap().path()).unwrap();
      check::chunked_matches_whole(&input);
      count += 1;
    }
    assert!(count >= 5, "the corpus holds {count} inputs");
  }

  use proptest::prelude::*;

  proptest! {
    #[test]
    fn any_chunking_of_valid_frames_gives_the_same_frames(
      frames in prop::collection::vec(prop::collection::vec(any::<u8>().prop_filter("no delimiter", |b| *b != 0x0c), 0..64), 0..32),
      cuts in prop::collection::vec(1usize..50, 1..16),
    ) {
      let mut stream = Vec::new();
      for f in &frames {
        stream.extend_from_slice(f);
        stream.push(0x0c);
      }
      let mut chunks = Vec::new();
      let (mut at, mut i) = (0, 0);
      while at < stream.len() {
        let end = (at + cuts[i % cuts.len()]).min(stream.len());
        chunks.push(&stream[at..end]);
        (at, i) = (end, i + 1);
      }
      let got = feed(&mut FrameDecoder::new(b"\x0c", Some(64)), &chunks).unwrap();
      prop_assert_eq!(got, frames);
    }

    #[test]
    fn arbitrary_inputs_satisfy_the_fuzz_property(input in prop::collection::vec(any::<u8>(), 0..512)) {
      check::chunked_matches_whole(&input);
    }
  }

  #[test]
  fn scanning_resumes_where_it_stopped() {
    let mut d = FrameDecoder::new(b"\x0c", None);
    let mut buf = vec![b'x'; 1000];
    assert_eq!(d.next_frame(&buf).unwrap(), None);
    assert_eq!(d.scanned, 1000);
    buf.push(0x0c);
    assert_eq!(d.next_frame(&buf).unwrap(), Some(1000));
    assert_eq!(d.scanned, 0);
  }
}

/// The property the fuzz target and the corpus replay check: feeding a stream to the
/// decoder in arbitrary chunks gives exactly the frames (and the limit error, if any) that
/// a naive split of the whole stream gives. The input chooses delimiter, limit and chunking.
#[doc(hidden)]
pub mod check {
  use super::FrameDecoder;

  struct Plan<'a> {
    delimiter: Vec<u8>,
    limit: Option<usize>,
    chunk_sizes: Vec<usize>,
    stream: &'a [u8],
  }

  fn plan(input: &[u8]) -> Plan<'_> {
    let mut rest = input;
    let mut take = |n: usize| {
      let (head, tail) = rest.split_at(n.min(rest.len()));
      rest = tail;
      head
    };
    let shape = take(1).first().copied().unwrap_or(0);
    let mut delimiter = take(1 + (shape as usize % 3)).to_vec();
    if delimiter.is_empty() {
      delimiter = vec![0x0c];
    }
    let limit_byte = take(1).first().copied().unwrap_or(0);
    let limit = (limit_byte % 4 != 0).then_some(limit_byte as usize / 4);
    let chunk_sizes = take(4).iter().map(|b| 1 + *b as usize % 37).collect::<Vec<_>>();
    Plan { delimiter, limit, chunk_sizes, stream: rest }
  }

  /// Frames of a naive whole-stream split, and whether the limit was hit.
  fn reference(p: &Plan<'_>) -> (Vec<Vec<u8>>, bool) {
    let (d, mut at, mut frames) = (&p.delimiter, 0, Vec::new());
    while let Some(pos) = p.stream[at..].windows(d.len()).position(|w| w == &d[..]) {
      if p.limit.is_some_and(|l| pos > l) {
        return (frames, true);
      }
      frames.push(p.stream[at..at + pos].to_vec());
      at += pos + d.len();
    }
    let tail = p.stream.len() - at;
    (frames, p.limit.is_some_and(|l| tail > l + d.len() - 1))
  }

  pub fn chunked_matches_whole(input: &[u8]) {
    let p = plan(input);
    let mut decoder = FrameDecoder::new(&p.delimiter, p.limit);
    let (mut pending, mut frames, mut failed) = (Vec::new(), Vec::new(), false);
    let (mut at, mut i) = (0, 0);
    while at < p.stream.len() && !failed {
      let size =
        if p.chunk_sizes.is_empty() { p.stream.len() } else { p.chunk_sizes[i % p.chunk_sizes.len()] };
      let end = (at + size).min(p.stream.len());
      pending.extend_from_slice(&p.stream[at..end]);
      (at, i) = (end, i + 1);
      match decoder.drain(&pending, |f| frames.push(f.to_vec())) {
        Ok(used) => drop(pending.drain(..used)),
        Err(_) => failed = true,
      }
    }
    assert_eq!((frames, failed), reference(&p), "delimiter {:?} limit {:?}", p.delimiter, p.limit);
  }
}
