//! Quarry's integration tests: one binary, real servers, real clients.
//!
//! Every test starts a server in-process on port 0 with its own data directory
//! (`harness`), except the crash tests, which run the real `quarry` binary so
//! they can kill it.
//!
//! The binary is its own harness (libtest-mimic, `harness = false`). Its
//! trials are every function marked `#[quarry_test]`, named
//! `module::function`, and every sqllogictest file under `sql/slt`, one trial
//! per file named after its path (`slt::ml/training`), which reports every
//! record of the file that fails, not only the first. libtest's options work
//! as usual (`--list`, `--exact`, `--skip`, `--test-threads` or
//! `RUST_TEST_THREADS`, ...):
//!
//! ```text
//! cargo test --test quarry                                  # everything
//! cargo test --test quarry -- slt::ml/                      # trials whose name contains it
//! cargo test --test quarry -- --exact slt::ml/training      # one trial
//! cargo test --test quarry -- --complete slt::ml/training   # rewrite that file's expected output
//! ```
//!
//! Two things differ from libtest:
//!
//! - a filter that matches no trial fails the run, so that a typo does not
//!   pass with nothing tested (with `cargo test --workspace -- FILTER` the
//!   filter must therefore match a trial of this binary too);
//! - `--complete` selects only the sqllogictest trials and, instead of
//!   checking them, rewrites each selected file's expected results and error
//!   messages with what a live server answers (sqllogictest's
//!   `update_test_file`). Records that already pass are left as written.
//!   Review the diff before committing it.

use std::ffi::OsString;
use std::process::ExitCode;

use libtest_mimic::{Arguments, Trial};

mod harness;

mod access;
mod audit;
mod auth;
mod control;
mod copy;
mod crash;
mod docs;
mod errors;
mod explain;
mod governance;
mod lifecycle;
mod metrics;
mod ml;
mod persistence;
mod quality;
mod reliability;
mod reuse;
mod serving;
mod session;
mod slt;
mod transactions;
mod trees;
mod wire;

/// The flag, taken out before libtest-mimic parses the rest.
const COMPLETE: &str = "--complete";

fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let given = args.len();
    args.retain(|arg| arg != COMPLETE);
    let complete = args.len() != given;
    let mut args = Arguments::from_iter(args);
    // libtest reads this; libtest-mimic only has --test-threads.
    if args.test_threads.is_none() {
        args.test_threads = std::env::var("RUST_TEST_THREADS")
            .ok()
            .and_then(|n| n.parse().ok());
    }

    let mut trials = Vec::new();
    if !complete {
        trials.extend(harness::Test::all().map(|test| {
            Trial::test(test.trial_name(), move || {
                (test.run)();
                Ok(())
            })
        }));
        trials.push(Trial::test(
            "harness::every_test_is_a_trial",
            harness::every_test_is_a_trial,
        ));
    }
    trials.extend(slt::trials(complete));
    trials.sort_by(|a, b| a.name().cmp(b.name()));

    if let Some(filter) = unmatched_filter(&args, &trials) {
        let among = if complete {
            " among the sqllogictest files (--complete selects only those)"
        } else {
            ""
        };
        eprintln!(
            "error: no test matches the filter `{filter}`{among}; \
             `cargo test --test quarry -- --list` lists them"
        );
        return ExitCode::FAILURE;
    }
    libtest_mimic::run(&args, trials).exit_code()
}

/// The filter, when one was given and matches no trial (by libtest-mimic's
/// own rule: a substring, or the whole name with `--exact`). `--list` lists
/// whatever matches, even nothing.
fn unmatched_filter<'a>(args: &'a Arguments, trials: &[Trial]) -> Option<&'a str> {
    let filter = args.filter.as_deref()?;
    if args.list {
        return None;
    }
    let only_the_filter = Arguments {
        filter: args.filter.clone(),
        exact: args.exact,
        ..Arguments::default()
    };
    trials
        .iter()
        .all(|trial| only_the_filter.is_filtered_out(trial))
        .then_some(filter)
}
