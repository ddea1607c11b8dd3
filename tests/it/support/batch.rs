//! Batches of callback updates, as the apply, output and quota tests send them, and the YAML
//! manifest that carries them.

use std::path::Path;

use livebatch::model::{Region, Update};

/// `n` updates moving each task's callback to `{base}/{prefix}/{i}`, task IDs `{prefix}-000`….
pub fn callback_updates(prefix: &str, n: usize, base: &str) -> Vec<Update> {
    (0..n)
        .map(|i| {
            let mut u = Update::new(format!("{prefix}-{i:03}"), Region::CnShanghai);
            u.callback_url = Some(format!("{base}/{prefix}/{i}"));
            u
        })
        .collect()
}

/// Writes `us` as a YAML manifest (TaskId, Region, CallbackUrl per update).
pub fn write_manifest(path: &Path, us: &[Update]) {
    let mut s = String::from("updates:\n");
    for u in us {
        s.push_str(&format!(
            "  - TaskId: {}\n    Region: {}\n    CallbackUrl: {}\n",
            u.task_id,
            u.region.as_str(),
            u.callback_url.as_deref().unwrap_or("")
        ));
    }
    std::fs::write(path, s).unwrap();
}
