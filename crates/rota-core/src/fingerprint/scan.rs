//! A small, allocation-free JSON scanner over `&[u8]`.
//!
//! It validates the *structure* of a document (brackets, commas, colons, string delimiters,
//! number and literal grammar, nesting depth) without building anything. Escapes are
//! validated only in strings that are read: keys and the strings the caller decodes
//! ([`Scanner::string`], [`Scanner::decode`]).
//!
//! Strings inside skipped values are jumped over by their quotes alone: [`memchr::memchr`]
//! (SIMD) finds the next `"` and the run of `\` right before it tells whether it is escaped
//! (odd run) or closes the string (even run). After an escaped quote the rest of the string
//! is classified 64 bytes at a time, branch-free (SIMD byte masks and simdjson's escape
//! scanner, see [`block`]), since escapes are then dense (code, logs); two blocks in a row
//! without a quote hand the rest back to `memchr`.
//!
//! Leniency, on purpose: the contents of *skipped* strings are not checked for valid
//! escapes, UTF-8 validity, raw control characters or lone surrogate escapes — the
//! structural check is what rota's 400 answer is based on, and the upstream remains the
//! final judge of the body. Strings that are read must have valid escapes; strings that are
//! decoded must also be valid UTF-8 and may not contain lone surrogate escapes.
//!
//! Nesting is tracked in a `u128` bit stack (one bit per open container: object or array), so
//! skipping a value never recurses and never allocates; depth is capped at [`MAX_DEPTH`].

use std::borrow::Cow;

use super::block::{self, BlockScan, byte_mask};

/// The deepest container nesting accepted (objects and arrays together).
pub(super) const MAX_DEPTH: usize = 128;

/// A client-safe description of why a body is not valid JSON.
pub(super) type Error = &'static str;
/// The scanner's result type.
pub(super) type Result<T> = std::result::Result<T, Error>;

const EOF: Error = "invalid JSON: unexpected end of input";
pub(super) const TRAILING: Error = "invalid JSON: trailing characters";
const EXPECTED_VALUE: Error = "invalid JSON: expected value";
const TOO_DEEP: Error = "invalid JSON: nesting too deep";
const BAD_ESCAPE: Error = "invalid JSON: invalid escape in string";
const BAD_UNICODE: Error = "invalid JSON: invalid unicode escape in string";
const BAD_UTF8: Error = "invalid JSON: string is not valid UTF-8";
const BAD_NUMBER: Error = "invalid JSON: invalid number";
const EXPECTED_KEY: Error = "invalid JSON: expected string key";
const EXPECTED_COLON: Error = "invalid JSON: expected ':'";
const EXPECTED_OBJ_SEP: Error = "invalid JSON: expected ',' or '}'";
const EXPECTED_ARR_SEP: Error = "invalid JSON: expected ',' or ']'";

/// A JSON string as it sits in the body: the byte range of its contents inside the quotes.
#[derive(Debug, Clone, Copy)]
pub(super) struct RawStr {
    /// First content byte (just after the opening quote).
    pub(super) start: usize,
    /// One past the last content byte (the closing quote's offset).
    pub(super) end: usize,
    /// Whether the contents contain any `\` escape (so they cannot be borrowed as-is).
    escaped: bool,
}

impl RawStr {
    fn new(start: usize, end: usize, escaped: bool) -> Self {
        Self {
            start,
            end,
            escaped,
        }
    }
}

/// A cursor over a JSON document.
#[derive(Debug, Clone)]
pub(super) struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    /// A scanner over `bytes`, starting at `pos`.
    pub(super) fn new(bytes: &'a [u8], pos: usize) -> Self {
        Self { bytes, pos }
    }

    /// A scanner over the same bytes, positioned at `pos`.
    pub(super) fn at(&self, pos: usize) -> Self {
        Self::new(self.bytes, pos)
    }

    /// The current offset.
    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    /// Skips JSON whitespace; true if the input is then exhausted.
    pub(super) fn at_end_after_ws(&mut self) -> bool {
        self.skip_ws();
        self.pos >= self.bytes.len()
    }

    #[inline]
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    /// Skips whitespace and returns the next byte without consuming it.
    #[inline]
    pub(super) fn peek(&mut self) -> Result<u8> {
        self.skip_ws();
        self.bytes.get(self.pos).copied().ok_or(EOF)
    }

    /// Consumes `{` (already peeked) and returns whether the object has members; an empty
    /// object's `}` is consumed too.
    pub(super) fn begin_object(&mut self) -> Result<bool> {
        self.pos += 1;
        if self.peek()? == b'}' {
            self.pos += 1;
            return Ok(false);
        }
        Ok(true)
    }

    /// Consumes `[` (already peeked) and returns whether the array has elements; an empty
    /// array's `]` is consumed too.
    pub(super) fn begin_array(&mut self) -> Result<bool> {
        self.pos += 1;
        if self.peek()? == b']' {
            self.pos += 1;
            return Ok(false);
        }
        Ok(true)
    }

    /// Reads a member key and the `:` after it.
    pub(super) fn key(&mut self) -> Result<RawStr> {
        if self.peek()? != b'"' {
            return Err(EXPECTED_KEY);
        }
        let key = self.string()?;
        if self.peek()? != b':' {
            return Err(EXPECTED_COLON);
        }
        self.pos += 1;
        Ok(key)
    }

    /// After a member's value: consumes `,` (→ true, another member follows) or `}` (→ false).
    pub(super) fn next_member(&mut self) -> Result<bool> {
        match self.peek()? {
            b',' => {
                self.pos += 1;
                Ok(true)
            }
            b'}' => {
                self.pos += 1;
                Ok(false)
            }
            _ => Err(EXPECTED_OBJ_SEP),
        }
    }

    /// After an element: consumes `,` (→ true, another element follows) or `]` (→ false).
    pub(super) fn next_element(&mut self) -> Result<bool> {
        match self.peek()? {
            b',' => {
                self.pos += 1;
                Ok(true)
            }
            b']' => {
                self.pos += 1;
                Ok(false)
            }
            _ => Err(EXPECTED_ARR_SEP),
        }
    }

    /// Consumes a literal `true` if one is next; otherwise consumes nothing.
    pub(super) fn eat_true(&mut self) -> bool {
        self.skip_ws();
        let end = self.pos.saturating_add(4);
        if self.bytes.get(self.pos..end) == Some(b"true") {
            self.pos = end;
            return true;
        }
        false
    }

    /// Reads a string (the next non-whitespace byte must be `"`, already peeked) without
    /// decoding it; escapes are checked for validity.
    pub(super) fn string(&mut self) -> Result<RawStr> {
        self.pos += 1;
        self.string_body()
    }

    /// Skips string contents; `pos` is just after the opening quote. Escapes are validated.
    ///
    /// Escapes are frequent in real bodies (code and logs carry a `\\n` or `\\"` every few
    /// dozen bytes) and a `memchr2` call per escape has a fixed cost, so the string is read 8
    /// bytes at a time (SWAR) with exact per-byte masks of `"` and `\\`; every simple escape
    /// inside a word is handled without reloading it. After four hit-free words the rest of a
    /// long quiet run is searched with `memchr2` (SIMD). The last < 8 bytes are stepped through
    /// with `memchr2`.
    #[inline]
    fn string_body(&mut self) -> Result<RawStr> {
        let bytes = self.bytes;
        let start = self.pos;
        let mut p = start;
        let mut escaped = false;
        let mut quiet_words = 0u32;
        loop {
            let Some(word) = bytes.get(p..).and_then(|rest| rest.first_chunk::<8>()) else {
                return self.string_tail(start, p, escaped);
            };
            let word = u64::from_le_bytes(*word);
            let mut hits = byte_mask(word, b'"') | byte_mask(word, b'\\');
            if hits == 0 {
                p += 8;
                quiet_words += 1;
                if quiet_words >= 4 {
                    // A long quiet run: let SIMD find the next hit.
                    quiet_words = 0;
                    match memchr::memchr2(b'"', b'\\', bytes.get(p..).unwrap_or_default()) {
                        Some(i) => p += i,
                        None => {
                            self.pos = bytes.len();
                            return Err(EOF);
                        }
                    }
                }
                continue;
            }
            quiet_words = 0;
            // Handle this word's hits, lowest (first in memory) first.
            loop {
                let k = (hits.trailing_zeros() / 8) as usize;
                let at = p + k;
                if bytes.get(at) == Some(&b'"') {
                    self.pos = at + 1;
                    return Ok(RawStr::new(start, at, escaped));
                }
                escaped = true;
                let len = match bytes.get(at + 1) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => 2,
                    _ => escape_len(bytes.get(at + 1..).unwrap_or_default())?,
                };
                let next = k + len; // offset in this word just after the escape
                // Drop the hits up to the escape's end (all of them if it leaves the word),
                // branch-free.
                hits &= !1u64
                    .checked_shl(8 * next as u32)
                    .unwrap_or(0)
                    .wrapping_sub(1);
                if hits == 0 {
                    p += next.max(8);
                    break;
                }
            }
        }
    }

    /// Skips string contents without decoding or validating them; `pos` is just after the
    /// opening quote.
    ///
    /// Only `"` is searched for ([`memchr::memchr`], SIMD), so escapes (`\n`, `\\`,
    /// `\uXXXX`, …) are jumped over without stopping. At each `"` found, the run of `\`
    /// right before it decides: an odd run escapes the quote (search on after it), an even
    /// run (usually none) ends the string. The run never reaches back past the opening
    /// quote: the byte before `start` is that quote, and an earlier escaped `"` stops the
    /// count too. For valid escapes this finds exactly the end [`Scanner::string`] finds;
    /// invalid escapes are not noticed here (see the module docs).
    ///
    /// After an escaped quote, [`block::closing_quote`] classifies whole 64-byte blocks
    /// instead, until the closing quote, the last < 64 bytes, or two blocks without a quote.
    #[inline]
    fn skip_string_body(&mut self) -> Result<()> {
        let bytes = self.bytes;
        let start = self.pos;
        let mut p = start;
        loop {
            let Some(i) = memchr::memchr(b'"', bytes.get(p..).unwrap_or_default()) else {
                self.pos = bytes.len();
                return Err(EOF);
            };
            let quote = p + i;
            if ends_string(bytes, start, quote) {
                self.pos = quote + 1;
                return Ok(());
            }
            // An escaped quote: escapes are dense here, and one `memchr` per escaped quote
            // costs more than classifying whole 64-byte blocks branch-free. The byte after
            // the escaped quote starts fresh (it is not escaped).
            match block::closing_quote(bytes, quote + 1) {
                BlockScan::Quote(end) => {
                    self.pos = end + 1;
                    return Ok(());
                }
                // Fewer than 64 bytes left, or quotes are sparse again: back to `memchr`.
                BlockScan::Unfinished(at) => p = at,
            }
        }
    }

    /// The end of a string whose last stretch (from `p`, not inside an escape) is shorter
    /// than a word: step from escape to escape.
    fn string_tail(&mut self, start: usize, mut p: usize, mut escaped: bool) -> Result<RawStr> {
        let bytes = self.bytes;
        loop {
            let Some(i) = memchr::memchr2(b'"', b'\\', bytes.get(p..).unwrap_or_default()) else {
                self.pos = bytes.len();
                return Err(EOF);
            };
            let at = p + i;
            if bytes.get(at) == Some(&b'"') {
                self.pos = at + 1;
                return Ok(RawStr::new(start, at, escaped));
            }
            escaped = true;
            p = at + escape_len(bytes.get(at + 1..).unwrap_or_default())?;
        }
    }

    /// Reads a number (grammar-checked, not converted).
    fn number(&mut self) -> Result<()> {
        let b = self.bytes;
        let mut p = self.pos;
        if b.get(p) == Some(&b'-') {
            p += 1;
        }
        match b.get(p) {
            Some(b'0') => p += 1,
            Some(b'1'..=b'9') => p = digits(b, p + 1),
            None => return Err(EOF),
            Some(_) => return Err(BAD_NUMBER),
        }
        if b.get(p) == Some(&b'.') {
            p = some_digits(b, p + 1)?;
        }
        if let Some(b'e' | b'E') = b.get(p) {
            p += 1;
            if let Some(b'+' | b'-') = b.get(p) {
                p += 1;
            }
            p = some_digits(b, p)?;
        }
        self.pos = p;
        Ok(())
    }

    /// Reads the literal `lit` (`true`, `false`, `null`).
    fn literal(&mut self, lit: &[u8]) -> Result<()> {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        if rest.starts_with(lit) {
            self.pos += lit.len();
            Ok(())
        } else if rest.len() < lit.len() && lit.starts_with(rest) {
            Err(EOF)
        } else {
            Err(EXPECTED_VALUE)
        }
    }

    /// Skips one complete value of any kind, validating it. `depth` is the number of
    /// containers already open around the value. Iterative: nesting lives in a bit stack.
    pub(super) fn skip_value(&mut self, depth: usize) -> Result<()> {
        // Bit i set = the i-th innermost open container is an object (else an array).
        let mut stack: u128 = 0;
        let mut open: usize = 0;
        'value: loop {
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    self.skip_string_body()?;
                }
                b'{' => {
                    if depth + open >= MAX_DEPTH {
                        return Err(TOO_DEEP);
                    }
                    if self.begin_object()? {
                        stack = (stack << 1) | 1;
                        open += 1;
                        self.key()?;
                        continue 'value;
                    }
                }
                b'[' => {
                    if depth + open >= MAX_DEPTH {
                        return Err(TOO_DEEP);
                    }
                    if self.begin_array()? {
                        stack <<= 1;
                        open += 1;
                        continue 'value;
                    }
                }
                b'-' | b'0'..=b'9' => self.number()?,
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                _ => return Err(EXPECTED_VALUE),
            }
            // A value is complete: close containers until one continues.
            loop {
                if open == 0 {
                    return Ok(());
                }
                let in_object = stack & 1 == 1;
                let more = if in_object {
                    self.next_member()?
                } else {
                    self.next_element()?
                };
                if more {
                    if in_object {
                        self.key()?;
                    }
                    continue 'value;
                }
                stack >>= 1;
                open -= 1;
            }
        }
    }

    /// Whether the string equals `lit` (decoding it only if it has escapes).
    pub(super) fn str_eq(&self, raw: RawStr, lit: &str) -> Result<bool> {
        if raw.escaped {
            Ok(self.decode(raw)? == lit)
        } else {
            Ok(self.bytes.get(raw.start..raw.end) == Some(lit.as_bytes()))
        }
    }

    /// A key's bytes for matching: borrowed raw bytes when it has no escape, decoded otherwise.
    pub(super) fn key_bytes(&self, raw: RawStr) -> Result<Cow<'a, [u8]>> {
        if raw.escaped {
            Ok(match self.decode(raw)? {
                Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
                Cow::Owned(s) => Cow::Owned(s.into_bytes()),
            })
        } else {
            Ok(Cow::Borrowed(
                self.bytes.get(raw.start..raw.end).unwrap_or_default(),
            ))
        }
    }

    /// Decodes a string: borrowed when it has no escapes, unescaped into a new `String`
    /// otherwise (`\uXXXX` with surrogate pairs; a lone surrogate is an error).
    pub(super) fn decode(&self, raw: RawStr) -> Result<Cow<'a, str>> {
        let bytes: &'a [u8] = self.bytes.get(raw.start..raw.end).ok_or(EOF)?;
        if !raw.escaped {
            return utf8(bytes).map(Cow::Borrowed);
        }
        let mut out = String::with_capacity(bytes.len());
        let mut rest = bytes;
        loop {
            let Some(i) = memchr::memchr(b'\\', rest) else {
                out.push_str(utf8(rest)?);
                return Ok(Cow::Owned(out));
            };
            // Escapes are ASCII, so splitting at `\` never cuts a UTF-8 sequence.
            out.push_str(utf8(rest.get(..i).unwrap_or_default())?);
            let esc = rest.get(i + 1..).unwrap_or_default();
            let used = match esc.first() {
                Some(b'"') => push(&mut out, '"'),
                Some(b'\\') => push(&mut out, '\\'),
                Some(b'/') => push(&mut out, '/'),
                Some(b'b') => push(&mut out, '\u{8}'),
                Some(b'f') => push(&mut out, '\u{c}'),
                Some(b'n') => push(&mut out, '\n'),
                Some(b'r') => push(&mut out, '\r'),
                Some(b't') => push(&mut out, '\t'),
                Some(b'u') => {
                    let (c, used) = unicode_escape(esc)?;
                    out.push(c);
                    used
                }
                None => return Err(EOF),
                Some(_) => return Err(BAD_ESCAPE),
            };
            rest = esc.get(used..).unwrap_or_default();
        }
    }
}

/// Whether the `"` at `quote` ends the string whose contents begin at `start`: the run of `\`
/// right before it (never counted back past `start`) has even length.
#[inline]
fn ends_string(bytes: &[u8], start: usize, quote: usize) -> bool {
    let before = bytes.get(start..quote).unwrap_or_default();
    match before.last() {
        Some(b'\\') => {
            let run = before.iter().rev().take_while(|&&b| b == b'\\').count();
            run % 2 == 0
        }
        _ => true,
    }
}

fn push(out: &mut String, c: char) -> usize {
    out.push(c);
    1
}

fn utf8(bytes: &[u8]) -> Result<&str> {
    std::str::from_utf8(bytes).map_err(|_| BAD_UTF8)
}

/// Length of an escape sequence including its `\`; `after` starts just after the `\`.
#[inline]
fn escape_len(after: &[u8]) -> Result<usize> {
    match after.first() {
        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(2),
        Some(b'u') => {
            hex4(after.get(1..))?;
            Ok(6)
        }
        None => Err(EOF),
        Some(_) => Err(BAD_ESCAPE),
    }
}

/// Decodes `u` + 4 hex digits (`esc` starts at the `u`), plus a following `\uXXXX` low
/// surrogate if the first is a high surrogate. Returns the char and the bytes used after `\`.
fn unicode_escape(esc: &[u8]) -> Result<(char, usize)> {
    let hi = hex4(esc.get(1..))?;
    match hi {
        0xD800..=0xDBFF => {
            if esc.get(5..7) != Some(b"\\u") {
                return Err(BAD_UNICODE);
            }
            let lo = hex4(esc.get(7..))?;
            if !(0xDC00..=0xDFFF).contains(&lo) {
                return Err(BAD_UNICODE);
            }
            let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
            Ok((char::from_u32(c).ok_or(BAD_UNICODE)?, 11))
        }
        0xDC00..=0xDFFF => Err(BAD_UNICODE),
        _ => Ok((char::from_u32(hi).ok_or(BAD_UNICODE)?, 5)),
    }
}

/// Parses 4 hex digits at the start of `s`.
fn hex4(s: Option<&[u8]>) -> Result<u32> {
    let s = s.unwrap_or_default();
    let Some(digits) = s.get(..4) else {
        // Too short: the input ended (unless a non-hex byte came first).
        return Err(if s.iter().all(u8::is_ascii_hexdigit) {
            EOF
        } else {
            BAD_ESCAPE
        });
    };
    digits.iter().try_fold(0u32, |acc, &d| {
        let v = (d as char).to_digit(16).ok_or(BAD_ESCAPE)?;
        Ok(acc << 4 | v)
    })
}

fn digits(b: &[u8], mut p: usize) -> usize {
    while let Some(b'0'..=b'9') = b.get(p) {
        p += 1;
    }
    p
}

/// At least one digit at `p`; returns the offset after the digits.
fn some_digits(b: &[u8], p: usize) -> Result<usize> {
    match b.get(p) {
        Some(b'0'..=b'9') => Ok(digits(b, p + 1)),
        None => Err(EOF),
        Some(_) => Err(BAD_NUMBER),
    }
}
