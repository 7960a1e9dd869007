//! Arbitrary streams, delimiters, limits and chunkings through the frame decoder
//! (`cargo +nightly fuzz run frame_decoder`); see `node_ipc_rs::codec::check`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
  node_ipc_rs::codec::check::chunked_matches_whole(data);
});
