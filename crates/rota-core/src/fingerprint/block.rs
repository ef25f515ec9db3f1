//! Classifying string contents 64 bytes at a time: where the `"` and `\` bytes are, which
//! bytes a backslash escapes, and so where a string ends — without a branch per byte.
//!
//! [`Scanner`](super::scan::Scanner) uses this for skipped strings once an escaped quote has
//! shown that escapes are dense (code, logs): there a `memchr` call per escaped quote costs
//! more than classifying whole blocks.
//!
//! - [`masks`] turns a block into two `u64` bit masks (bit i = byte i). Where the target has
//!   128-bit SIMD (SSE2, part of every x86-64 target; NEON on aarch64; simd128 on wasm) it
//!   compares the block with a splatted byte using [`wide::u8x64`] and gathers each lane's high
//!   bit (on SSE2: four `pcmpeqb` + `pmovmskb` per mask; a build that enables AVX2 or
//!   AVX-512 gets wider compares for free). Elsewhere the same masks come from SWAR over
//!   8-byte words ([`byte_mask`], [`compress`]).
//! - [`escaped_bits`] marks the bytes escaped by a backslash, carrying a backslash run across
//!   blocks (simdjson's escape scanner).
//! - [`closing_quote`] walks whole blocks to the first quote that is not escaped, and hands
//!   back to `memchr` when quotes turn sparse again.

use wide::u8x64;

/// Bytes classified at once.
const BLOCK: usize = 64;

/// Whether [`masks`] uses SIMD compares: on the targets where [`wide`] has 128-bit vectors.
/// Elsewhere `wide` would emulate them lane by lane, slower than SWAR.
const SIMD: bool = cfg!(any(
    target_feature = "sse2",
    all(target_arch = "aarch64", target_feature = "neon"),
    all(target_arch = "wasm32", target_feature = "simd128"),
));

/// Blocks in a row without any `"` after which [`closing_quote`] hands back to `memchr`,
/// which is several times faster than [`masks`] over text without quotes.
const QUIET_BLOCKS: u32 = 2;

/// Where a block scan stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BlockScan {
    /// The offset of the first `"` that no backslash escapes: the string's closing quote.
    Quote(usize),
    /// No closing quote before this block-aligned offset, and block scanning stopped: fewer
    /// than 64 bytes are left, or the last [`QUIET_BLOCKS`] blocks held no `"` at all. The
    /// byte here may be escaped by a run of backslashes before it.
    Unfinished(usize),
}

/// Finds the closing quote of a string by classifying whole 64-byte blocks from `from`, a
/// byte that is not escaped (the first content byte, or the byte after an escaped quote).
///
/// The caller goes on from [`BlockScan::Unfinished`] with `memchr` and counts the run of
/// backslashes before each quote it finds from the bytes themselves, so no carry is handed
/// over.
#[inline]
pub(super) fn closing_quote(bytes: &[u8], from: usize) -> BlockScan {
    let (blocks, _) = bytes.get(from..).unwrap_or_default().as_chunks::<BLOCK>();
    let mut p = from;
    let mut carry = 0u64;
    let mut quiet = 0u32;
    for block in blocks {
        let (quotes, backslashes) = masks(block);
        let ends = quotes & !escaped_bits(backslashes, &mut carry);
        if ends != 0 {
            return BlockScan::Quote(p + ends.trailing_zeros() as usize);
        }
        p += BLOCK;
        quiet = if quotes == 0 { quiet + 1 } else { 0 };
        if quiet == QUIET_BLOCKS {
            break;
        }
    }
    BlockScan::Unfinished(p)
}

/// Bit masks (bit i = byte i) of the `"` and the `\` bytes in a block.
#[inline]
fn masks(block: &[u8; BLOCK]) -> (u64, u64) {
    if SIMD {
        simd_masks(block)
    } else {
        swar_masks(block)
    }
}

/// [`masks`] with 128-bit SIMD compares: each equal lane becomes `0xFF`, and `to_bitmask`
/// gathers the lanes' high bits in memory order.
#[inline]
fn simd_masks(block: &[u8; BLOCK]) -> (u64, u64) {
    let bytes = u8x64::new(*block);
    let quotes = bytes.simd_eq(b'"').to_bitmask();
    let backslashes = bytes.simd_eq(b'\\').to_bitmask();
    (quotes, backslashes)
}

/// [`masks`] in plain integer arithmetic, 8 bytes at a time.
#[inline]
fn swar_masks(block: &[u8; BLOCK]) -> (u64, u64) {
    let mut quotes = 0u64;
    let mut backslashes = 0u64;
    for (k, word) in block.chunks_exact(8).enumerate() {
        let word = word
            .first_chunk::<8>()
            .map_or(0, |w| u64::from_le_bytes(*w));
        quotes |= compress(byte_mask(word, b'"')) << (8 * k);
        backslashes |= compress(byte_mask(word, b'\\')) << (8 * k);
    }
    (quotes, backslashes)
}

/// Bit 7 of each byte of the result is set exactly where `word`'s byte equals `b`.
#[inline]
pub(super) fn byte_mask(word: u64, b: u8) -> u64 {
    const LOW7: u64 = u64::from_ne_bytes([0x7f; 8]);
    let x = word ^ u64::from_ne_bytes([b; 8]);
    // Per byte: the high bit of ((x & 0x7f) + 0x7f) | x is clear only for a zero byte, and
    // the addition never carries into the next byte.
    !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7)
}

/// Gathers bit 7 of each byte of `mask` into the low 8 bits (bit i = byte i).
#[inline]
fn compress(mask: u64) -> u64 {
    // Bit 8i times 2^(7k+7) lands on 56+i exactly when k = 7-i; no other product reaches
    // bits 56..63 and no two products share a bit, so nothing carries.
    ((mask >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

/// The bytes of a block escaped by a `\` (the character after each escaping backslash),
/// given its backslash mask. `carry` is 1 when the block's first byte is escaped by a run at
/// the end of the previous block, and is updated for the next block. This is simdjson's
/// branch-free escape scanner: runs of backslashes are split into escape/escaped pairs by one
/// subtraction against the odd bit positions.
#[inline]
fn escaped_bits(backslashes: u64, carry: &mut u64) -> u64 {
    const ODD_BITS: u64 = 0xAAAA_AAAA_AAAA_AAAA;
    let potential_escape = backslashes & !*carry;
    let maybe_escaped = potential_escape << 1;
    let escape_and_terminal =
        ((maybe_escaped | ODD_BITS).wrapping_sub(potential_escape)) ^ ODD_BITS;
    let escaped = escape_and_terminal ^ (backslashes | *carry);
    let escape = escape_and_terminal & backslashes;
    *carry = escape >> 63;
    escaped
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// `masks`, byte by byte.
    fn reference_masks(block: &[u8; BLOCK]) -> (u64, u64) {
        let bits = |b: u8| {
            (0..BLOCK)
                .filter(|&i| block[i] == b)
                .fold(0u64, |m, i| m | 1 << i)
        };
        (bits(b'"'), bits(b'\\'))
    }

    /// The escaped bytes of `bytes` (one bool per byte), walking from an unescaped start.
    fn reference_escaped(bytes: &[u8]) -> Vec<bool> {
        let mut escaped = vec![false; bytes.len()];
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'\\' && i + 1 < bytes.len() {
                escaped[i + 1] = true;
                i += 2;
            } else {
                i += 1;
            }
        }
        escaped
    }

    /// Checks `closing_quote(bytes, from)` against its contract, byte by byte.
    fn check_closing_quote(bytes: &[u8], from: usize) -> Result<(), TestCaseError> {
        let escaped = reference_escaped(&bytes[from..]);
        let first_end = (from..bytes.len()).find(|&i| bytes[i] == b'"' && !escaped[i - from]);
        match closing_quote(bytes, from) {
            BlockScan::Quote(i) => prop_assert_eq!(Some(i), first_end),
            BlockScan::Unfinished(p) => {
                prop_assert!(p >= from && (p - from).is_multiple_of(BLOCK) && p <= bytes.len());
                prop_assert!(first_end.is_none_or(|end| end >= p), "passed the end");
                let quiet = p - from >= QUIET_BLOCKS as usize * BLOCK
                    && !bytes[p - QUIET_BLOCKS as usize * BLOCK..p].contains(&b'"');
                prop_assert!(bytes.len() - p < BLOCK || quiet, "stopped early at {}", p);
            }
        }
        Ok(())
    }

    fn block_of(bytes: &[u8]) -> [u8; BLOCK] {
        let mut block = [b'a'; BLOCK];
        block[..bytes.len()].copy_from_slice(bytes);
        block
    }

    /// Bytes biased toward the interesting ones, including the two with their high bit set
    /// that a careless mask could confuse with `"` (0x22) and `\` (0x5C).
    fn dense_byte() -> impl Strategy<Value = u8> {
        prop_oneof![
            4 => prop::sample::select(vec![b'"', b'\\']),
            2 => prop::sample::select(vec![b'a', b' ', b'n', 0xA2, 0xDC, 0x00, 0xFF]),
            1 => any::<u8>(),
        ]
    }

    /// Text with `\`, `"` and runs of backslashes at any offset.
    fn escapey_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(dense_byte(), 0..max)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn simd_and_swar_masks_match_the_bytes(bytes in prop::collection::vec(dense_byte(), BLOCK)) {
            let block = bytes.first_chunk::<BLOCK>().unwrap();
            let want = reference_masks(block);
            prop_assert_eq!(simd_masks(block), want);
            prop_assert_eq!(swar_masks(block), want);
            prop_assert_eq!(masks(block), want);
        }

        #[test]
        fn escaped_bits_match_the_bytes_across_blocks(bytes in escapey_bytes(4 * BLOCK)) {
            let want = reference_escaped(&bytes);
            let mut carry = 0;
            for (n, block) in bytes.as_chunks::<BLOCK>().0.iter().enumerate() {
                let (_, backslashes) = masks(block);
                let got = escaped_bits(backslashes, &mut carry);
                for i in 0..BLOCK {
                    prop_assert_eq!(got >> i & 1 == 1, want[n * BLOCK + i], "byte {}", n * BLOCK + i);
                }
            }
        }

        #[test]
        fn closing_quote_keeps_its_contract(bytes in escapey_bytes(5 * BLOCK), from in 0usize..80) {
            check_closing_quote(&bytes, from.min(bytes.len()))?;
        }

        #[test]
        fn closing_quote_keeps_its_contract_in_sparse_quotes(
            bytes in prop::collection::vec(
                prop_oneof![30 => Just(b'a'), 3 => Just(b'\\'), 1 => Just(b'"')],
                0..8 * BLOCK,
            ),
            from in 0usize..80,
        ) {
            check_closing_quote(&bytes, from.min(bytes.len()))?;
        }
    }

    #[test]
    fn high_bit_lookalikes_are_not_matched() {
        let block = block_of(&[
            0xA2,
            0xDC,
            b'"' | 0x80,
            b'\\' | 0x80,
            0x22 ^ 0x01,
            0x5C ^ 0x01,
        ]);
        assert_eq!(simd_masks(&block), (0, 0));
        assert_eq!(swar_masks(&block), (0, 0));
    }

    #[test]
    fn escaped_quote_straddling_a_16_byte_lane() {
        // `\` ends lane 0, the quote it escapes starts lane 1; the next quote closes.
        let mut bytes = [b'a'; 2 * BLOCK];
        bytes[15] = b'\\';
        bytes[16] = b'"';
        bytes[40] = b'"';
        assert_eq!(closing_quote(&bytes, 0), BlockScan::Quote(40));
        // An escaped backslash before lane 1: the quote there closes.
        bytes[14] = b'\\';
        assert_eq!(closing_quote(&bytes, 0), BlockScan::Quote(16));
    }

    #[test]
    fn escaped_quote_straddling_a_block() {
        let mut bytes = [b'a'; 3 * BLOCK];
        bytes[63] = b'\\';
        bytes[64] = b'"';
        bytes[100] = b'"';
        assert_eq!(closing_quote(&bytes, 0), BlockScan::Quote(100));
    }

    #[test]
    fn backslash_runs_crossing_a_block() {
        // A run of `run` backslashes ending at byte 63 + `past`, then a quote: the quote
        // closes the string exactly when the run is even.
        for run in 1..=5 {
            for past in 0..3 {
                let mut bytes = [b'a'; 3 * BLOCK];
                let end = 63 + past; // last backslash
                bytes[end + 1 - run..=end].fill(b'\\');
                bytes[end + 1] = b'"';
                bytes[150] = b'"';
                let want = if run % 2 == 0 { end + 1 } else { 150 };
                assert_eq!(
                    closing_quote(&bytes, 0),
                    BlockScan::Quote(want),
                    "run {run}, past {past}"
                );
            }
        }
        // A run filling a whole block and spilling into the next.
        let mut bytes = [b'\\'; 3 * BLOCK];
        bytes[65] = b'"'; // 65 backslashes before it: escaped
        bytes[66..].fill(b'a');
        bytes[70] = b'"';
        assert_eq!(closing_quote(&bytes, 0), BlockScan::Quote(70));
    }

    #[test]
    fn string_ending_at_a_block_boundary() {
        let mut bytes = [b'a'; 2 * BLOCK];
        bytes[63] = b'"';
        assert_eq!(closing_quote(&bytes, 0), BlockScan::Quote(63));
        bytes[63] = b'a';
        bytes[64] = b'"';
        assert_eq!(closing_quote(&bytes, 0), BlockScan::Quote(64));
        // The quote is the last byte of the input and of the last whole block.
        assert_eq!(closing_quote(&bytes[..65], 1), BlockScan::Quote(64));
    }

    #[test]
    fn fewer_than_a_block_is_left_to_the_caller() {
        for len in 0..BLOCK {
            let bytes = vec![b'"'; len];
            assert_eq!(closing_quote(&bytes, 0), BlockScan::Unfinished(0));
        }
        // A quote just past the whole blocks is in the tail.
        let mut bytes = [b'a'; BLOCK + 10];
        bytes[BLOCK + 2] = b'"';
        assert_eq!(closing_quote(&bytes, 0), BlockScan::Unfinished(BLOCK));
        // From a later start the whole block reaches it.
        assert_eq!(closing_quote(&bytes, 5), BlockScan::Quote(BLOCK + 2));
        assert_eq!(closing_quote(&bytes, 11), BlockScan::Unfinished(11));
    }

    #[test]
    fn quiet_blocks_hand_back_to_memchr() {
        let mut bytes = [b'a'; 6 * BLOCK];
        bytes[5 * BLOCK] = b'"';
        assert_eq!(
            closing_quote(&bytes, 0),
            BlockScan::Unfinished(QUIET_BLOCKS as usize * BLOCK)
        );
        // A run of backslashes ending the last quiet block: the offset handed back is
        // escaped, and it is the caller's run check that knows.
        bytes[2 * BLOCK - 3..2 * BLOCK].fill(b'\\');
        bytes[2 * BLOCK] = b'"';
        assert_eq!(closing_quote(&bytes, 0), BlockScan::Unfinished(2 * BLOCK));
        // Escaped quotes reset the count: blocks 1 and 2 hold one each, 3 and 4 are quiet.
        bytes[BLOCK] = b'\\';
        bytes[BLOCK + 1] = b'"';
        assert_eq!(closing_quote(&bytes, 0), BlockScan::Unfinished(5 * BLOCK));
    }
}
