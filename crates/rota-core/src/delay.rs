//! Reading explicit retry delays from upstream answers (SPEC §5).
