//! Shared helpers of the infer integration tests.

/// This crate's directory as `cargo test` gives it at run time, else where the test was built
/// (a target directory shared by two checkouts can hold a test built from the other one).
pub fn crate_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(
        || std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        std::path::PathBuf::from,
    )
}
