//! `apply --verify`: read every touched task back and compare it with what was sent. What was
//! sent comes from the run's own records (each outcome kept with the update that succeeded),
//! read twice in order: once for the tasks to read, once to compare; no update is held.

use crate::api::error::ApiError;
use crate::model::{Region, Update};
pub use crate::outcome::Mismatch;
use crate::outcome::Settled;
use crate::plan::diff::changes;
use crate::plan::fetch::{LiveSource, fetch_live};
use crate::spill::Spill;

/// Verify could not finish.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Reading a task back failed.
    #[error("verify could not read the tasks back: {0}")]
    Api(#[from] ApiError),
    /// The run's outcomes could not be read back.
    #[error("cannot read the run's items back for --verify: {0}")]
    Records(#[from] std::io::Error),
}

/// What verify found: how many updates it checked, and which do not match.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub checked: usize,
    pub mismatches: Vec<Mismatch>,
}

/// The updates a run sent and that succeeded, from its outcomes, in input order.
pub fn sent_updates(
    outcomes: &Spill<Settled>,
) -> impl Iterator<Item = std::io::Result<Update>> + '_ {
    outcomes
        .iter()
        .filter_map(|s| s.map(|s| s.sent).transpose())
}

/// Reads back the tasks `sent` touched (in as few calls as planning uses) and lists those whose
/// live configuration differs from what was sent. `sent` is read twice (the tasks to read, then
/// each update to compare), so a run's updates are never all held.
pub async fn verify<S, I>(src: &S, sent: impl Fn() -> I) -> Result<Verified, VerifyError>
where
    S: LiveSource,
    I: Iterator<Item = std::io::Result<Update>>,
{
    let mut wanted: Vec<(Region, String)> = Vec::new();
    for u in sent() {
        let u = u?;
        wanted.push((u.region, u.task_id));
    }
    let checked = wanted.len();
    if checked == 0 {
        return Ok(Verified {
            checked,
            mismatches: vec![],
        });
    }
    let live = fetch_live(src, &wanted).await?;
    drop(wanted);
    let mut out = Vec::new();
    for u in sent() {
        let u = u?;
        match live.get(&(u.region, u.task_id.clone())) {
            None => out.push(Mismatch {
                task_id: u.task_id.clone(),
                region: u.region,
                differences: vec![],
                missing: true,
            }),
            Some(state) => {
                let (differences, _) = changes(&u, state);
                if !differences.is_empty() {
                    out.push(Mismatch {
                        task_id: u.task_id.clone(),
                        region: u.region,
                        differences,
                        missing: false,
                    });
                }
            }
        }
    }
    Ok(Verified {
        checked,
        mismatches: out,
    })
}

/// One line per mismatch, for the terminal.
pub fn render(m: &[Mismatch]) -> String {
    let mut s = String::new();
    for x in m {
        if x.missing {
            s.push_str(&format!(
                "verify: {} ({}): the task no longer exists\n",
                x.task_id, x.region
            ));
            continue;
        }
        for d in &x.differences {
            s.push_str(&format!(
                "verify: {} ({}): {} is {:?}, but {:?} was sent\n",
                x.task_id, x.region, d.field, d.old, d.new
            ));
        }
    }
    s
}
