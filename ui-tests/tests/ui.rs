//! Compile-fail tests of the macros: each `fail/<macro>/*.rs` must fail with
//! the `.stderr` beside it. Regenerate with `TRYBUILD=overwrite` and review.

#[rustversion::attr(not(stable(1.95)), ignore = "diagnostics are pinned to rustc 1.95")]
#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("pass/*.rs");
    t.compile_fail("fail/*/*.rs");
}
