//! One-pass inspection of a request body: protocol facts and the session fingerprint (SPEC §2).
