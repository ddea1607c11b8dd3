//! The verify phase (`--verify`): read back every task whose update succeeded (through the same
//! engine, on the read operations' quotas), from the run's own records, and say what does not
//! match on standard error; the reports carry it too.

use super::super::Global;
use super::super::connect::exit_code_for;
use crate::apply::engine::Engine;
use crate::apply::ops::TaskOps;
use crate::apply::verify::{self, VerifyError, sent_updates};
use crate::exit;
use crate::outcome::Settled;
use crate::report::Verification;
use crate::spill::Spill;

/// Verifies the run whose outcomes are `outcomes`, given its exit code so far. A clean run with
/// mismatches exits 1; a read that fails exits as the failed call does when the run was clean;
/// any other exit code stands. Nothing to verify (no update succeeded): no verification. The
/// tasks of a failed wave that were rolled back (`rolled_back`) hold their before-images on
/// purpose: they are not compared with what was sent.
pub(super) async fn verify_run<S: TaskOps>(
    code: u8,
    outcomes: &Spill<Settled>,
    rolled_back: &std::collections::HashSet<String>,
    engine: &Engine<S>,
    g: &Global,
) -> (u8, Option<Verification>) {
    let sent = || {
        sent_updates(outcomes).filter(|u| !matches!(u, Ok(u) if rolled_back.contains(&u.task_id)))
    };
    let v = match verify::verify(engine, sent).await {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            let code = match &e {
                VerifyError::Api(e) if code == exit::SUCCESS => exit_code_for(e),
                VerifyError::Api(_) => code,
                VerifyError::Records(_) => code.max(exit::FAILURE),
            };
            return (code, None);
        }
    };
    if v.checked == 0 {
        // Said rather than silent: --verify was asked for, and a quiet end reads as "all match".
        if !g.quiet && rolled_back.is_empty() {
            eprintln!("verify: nothing to verify (no update was sent)");
        } else if !g.quiet {
            eprintln!(
                "verify: nothing to verify (the {} updated task(s) were rolled back to their before-images)",
                rolled_back.len()
            );
        }
        return (code, None);
    }
    if v.mismatches.is_empty() {
        if !g.quiet {
            eprintln!(
                "verify: all {} updated task(s) match what was sent",
                v.checked
            );
        }
    } else {
        eprint!("{}", verify::render(&v.mismatches));
        eprintln!(
            "verify: {} of {} updated task(s) do not match what was sent",
            v.mismatches.len(),
            v.checked
        );
    }
    let code = if !v.mismatches.is_empty() && code == exit::SUCCESS {
        exit::FAILURE
    } else {
        code
    };
    let verification = Verification {
        checked: v.checked,
        mismatches: v.mismatches,
    };
    (code, Some(verification))
}
