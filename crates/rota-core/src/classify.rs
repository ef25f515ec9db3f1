//! Classifying upstream answers into outcomes (SPEC §5).
