//! The byte stream every connection sends: a deterministic function of a
//! per-connection seed and the position in the stream, so the bytes that
//! come back are checked one by one without keeping what was sent
//! (with `--wire`, framed as MongoDB messages by `wire`).

use crate::wire::{Shape, overlay};

/// splitmix64's finaliser: cheap, and every bit of the input matters.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Writes the bytes at `pos..pos + out.len()` of stream `seed` into `out`.
pub fn fill(seed: u64, mut pos: u64, out: &mut [u8]) {
    let mut i = 0;
    while i < out.len() {
        let word = mix(seed ^ (pos / 8).wrapping_mul(0x2545_f491_4f6c_dd1d)).to_le_bytes();
        let offset = (pos % 8) as usize;
        let n = (8 - offset).min(out.len() - i);
        out[i..i + n].copy_from_slice(&word[offset..offset + n]);
        i += n;
        pos += n as u64;
    }
}

/// Checks `got` against the stream at `pos` (framed as `wire` messages of
/// the given length, with `--wire`); `scratch` is reused memory of at
/// least `got.len()` bytes. Returns the first differing offset.
pub fn check(
    seed: u64,
    pos: u64,
    wire: Option<(Shape, u64)>,
    got: &[u8],
    scratch: &mut [u8],
) -> Result<(), u64> {
    let expected = &mut scratch[..got.len()];
    fill(seed, pos, expected);
    if let Some((shape, len)) = wire {
        overlay(shape, len, pos, expected);
    }
    if expected == got {
        return Ok(());
    }
    let at = expected
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(0);
    Err(pos + at as u64)
}
