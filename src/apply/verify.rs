//! `apply --verify`: read every touched task back and compare it with what was sent.

use serde::{Deserialize, Serialize};

use crate::api::error::ApiError;
use crate::model::{Region, Update};
use crate::plan::diff::{FieldChange, changes};
use crate::plan::fetch::{LiveSource, fetch_live};

/// A task whose live state does not match the update that succeeded on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mismatch {
    pub task_id: String,
    pub region: Region,
    /// Sent value as `new`, live value as `old`; empty when the task is gone.
    pub differences: Vec<FieldChange>,
    pub missing: bool,
}

/// Reads back the tasks `sent` touched (in as few calls as planning uses) and lists those whose
/// live configuration differs from what was sent.
pub async fn verify<S: LiveSource>(src: &S, sent: &[Update]) -> Result<Vec<Mismatch>, ApiError> {
    let wanted: Vec<(Region, String)> =
        sent.iter().map(|u| (u.region, u.task_id.clone())).collect();
    let live = fetch_live(src, &wanted).await?;
    let mut out = Vec::new();
    for u in sent {
        match live.get(&(u.region, u.task_id.clone())) {
            None => out.push(Mismatch {
                task_id: u.task_id.clone(),
                region: u.region,
                differences: vec![],
                missing: true,
            }),
            Some(state) => {
                let (differences, _) = changes(u, state);
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
    Ok(out)
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
