//! Saved plans: what a person reviewed, in a file CI can apply exactly.
//!
//! A plan records the manifests it came from (by hash), the tool version, and for each item the
//! decision, the exact update that would be sent, and a fingerprint of the live state it was planned
//! against. `apply --plan` refuses a plan whose manifests changed, and refuses (per item) any task
//! whose live state moved since planning. Plans hold no credentials.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::api::models::TaskState;
use crate::model::{ApiTime, Region, Update};
use crate::plan::diff::{Decision, PlanOptions};

/// The schema tag of this plan format; bumped on any incompatible change.
pub const PLAN_SCHEMA: &str = "livebatch.plan/v1";

/// One manifest a plan was made from, by content hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestRef {
    pub path: String,
    pub sha256: String,
}

/// One planned update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanItem {
    pub task_id: String,
    pub region: Region,
    /// `file:line` of the update in its manifest.
    pub origin: String,
    #[serde(flatten)]
    pub decision: Decision,
    /// The update narrowed to the fields that differ: exactly what `UpdateLivePullToPush` gets.
    pub update: Update,
    /// The live state planned against (absent for a missing task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<TaskState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// A whole saved plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanFile {
    pub schema: String,
    pub tool_version: String,
    pub created_at: ApiTime,
    pub restart_running: bool,
    pub manifests: Vec<ManifestRef>,
    pub items: Vec<PlanItem>,
}

/// Why a saved plan could not be read or used.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error(
        "plan {path} is larger than {limit_mib} MiB: a saved plan is read whole; split the manifests into several plans, or apply the manifests directly (`livebatch apply FILE…` streams any size)"
    )]
    TooLarge { path: String, limit_mib: u64 },
    #[error("plan {path} is not a regular file ({kind}): a saved plan is read from a file")]
    NotAFile { path: String, kind: &'static str },
    #[error(
        "the plan {path} was made from {manifest}, which is not a regular file ({kind}); a plan's manifests are files"
    )]
    ManifestNotAFile {
        path: String,
        manifest: String,
        kind: &'static str,
    },
    #[error("cannot read plan {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write plan {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a livebatch plan: {message}")]
    Parse { path: String, message: String },
    #[error(
        "{path} is a {found} plan; this livebatch reads {PLAN_SCHEMA} (re-run `livebatch plan --out`)"
    )]
    Schema { path: String, found: String },
    #[error(
        "the plan {path} was made from {manifest} (sha256 {planned}), which has changed since (now {now}); \
         re-run `livebatch plan --out` and review it again"
    )]
    ManifestChanged {
        path: String,
        manifest: String,
        planned: String,
        now: String,
    },
    #[error("the plan {path} was made from {manifest}, which cannot be read now: {source}")]
    ManifestGone {
        path: String,
        manifest: String,
        source: std::io::Error,
    },
}

impl PlanFile {
    pub fn new(
        options: PlanOptions,
        created_at: ApiTime,
        manifests: Vec<ManifestRef>,
        items: Vec<PlanItem>,
    ) -> PlanFile {
        PlanFile {
            schema: PLAN_SCHEMA.to_string(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            created_at,
            restart_running: options.restart_running,
            manifests,
            items,
        }
    }

    /// Writes the plan atomically (temp file, fsync, rename), so a crash never leaves half a plan.
    pub fn save(&self, path: &Path) -> Result<(), PlanFileError> {
        let err = |source| PlanFileError::Write {
            path: path.display().to_string(),
            source,
        };
        let json = serde_json::to_vec_pretty(self).expect("plan types always serialize");
        crate::fsutil::write_atomic(path, &json).map_err(err)
    }

    pub fn load(path: &Path) -> Result<PlanFile, PlanFileError> {
        use std::io::Read;
        let shown = path.display().to_string();
        let read_err = |source| PlanFileError::Read {
            path: shown.clone(),
            source,
        };
        // Checked before opening: opening a FIFO for reading waits for a writer, forever.
        let meta = std::fs::metadata(path).map_err(read_err)?;
        if !meta.is_file() {
            return Err(PlanFileError::NotAFile {
                path: shown,
                kind: file_kind(&meta),
            });
        }
        let file = std::fs::File::open(path).map_err(read_err)?;
        let mut bytes = Vec::new();
        file.take(MAX_PLAN_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(read_err)?;
        if bytes.len() as u64 > MAX_PLAN_BYTES {
            return Err(PlanFileError::TooLarge {
                path: shown,
                limit_mib: MAX_PLAN_BYTES >> 20,
            });
        }
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| PlanFileError::Parse {
                path: shown.clone(),
                message: e.to_string(),
            })?;
        let schema = value
            .get("schema")
            .and_then(|s| s.as_str())
            .unwrap_or("(no schema)");
        if schema != PLAN_SCHEMA {
            return Err(PlanFileError::Schema {
                path: shown,
                found: schema.to_string(),
            });
        }
        serde_json::from_value(value).map_err(|e| PlanFileError::Parse {
            path: shown,
            message: e.to_string(),
        })
    }

    /// Refuses the plan whole when any of its manifests is no longer what was planned (or is not
    /// a regular file, which could be read forever). A plan naming none is refused by
    /// [`crate::plan::derive::check_saved`].
    pub fn check_manifests(&self, plan_path: &Path) -> Result<(), PlanFileError> {
        let shown = plan_path.display().to_string();
        for m in &self.manifests {
            let meta =
                std::fs::metadata(&m.path).map_err(|source| PlanFileError::ManifestGone {
                    path: shown.clone(),
                    manifest: m.path.clone(),
                    source,
                })?;
            if !meta.is_file() {
                return Err(PlanFileError::ManifestNotAFile {
                    path: shown,
                    manifest: m.path.clone(),
                    kind: file_kind(&meta),
                });
            }
            let now =
                manifest_ref(Path::new(&m.path)).map_err(|source| PlanFileError::ManifestGone {
                    path: plan_path.display().to_string(),
                    manifest: m.path.clone(),
                    source,
                })?;
            if now.sha256 != m.sha256 {
                return Err(PlanFileError::ManifestChanged {
                    path: plan_path.display().to_string(),
                    manifest: m.path.clone(),
                    planned: m.sha256.clone(),
                    now: now.sha256,
                });
            }
        }
        Ok(())
    }
}

/// The largest saved plan `apply --plan` reads (it is read whole). A plan item with its recorded
/// live state is about 1.2 KB of JSON, so this holds about 100,000 items; a larger batch is
/// applied from its manifests, which `apply` streams.
pub const MAX_PLAN_BYTES: u64 = 128 << 20;

/// What a path that is not a regular file is, for messages.
pub fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

/// Hashes a manifest file as it is on disk now.
pub fn manifest_ref(path: &Path) -> std::io::Result<ManifestRef> {
    use sha2::{Digest, Sha256};
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut HashWriter(&mut hasher))?;
    Ok(ManifestRef {
        path: path.display().to_string(),
        sha256: hex::encode(hasher.finalize()),
    })
}

struct HashWriter<'a>(&'a mut sha2::Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        sha2::Digest::update(self.0, buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_round_trip_and_manifest_check() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("m.yaml");
        std::fs::write(
            &manifest,
            "updates:\n  - TaskId: t1\n    Region: cn-beijing\n    CallbackUrl: https://h/cb\n",
        )
        .unwrap();
        let mut u = Update::new("t1", Region::CnBeijing);
        u.callback_url = Some("https://h/cb".into());
        let created = ApiTime::parse("2027-01-01T00:00:00Z").unwrap();
        // What planning makes of it for a task not found: the one item the manifest produces.
        let item = crate::plan::live::plan_item(
            &u,
            format!("{}:2", manifest.display()),
            None,
            created,
            PlanOptions::default(),
        );
        let plan = PlanFile::new(
            PlanOptions::default(),
            created,
            vec![manifest_ref(&manifest).unwrap()],
            vec![item],
        );
        let path = dir.path().join("p.json");
        plan.save(&path).unwrap();
        let back = PlanFile::load(&path).unwrap();
        assert_eq!(back, plan);
        back.check_manifests(&path).unwrap();
        // An item edited in the plan is refused, naming it.
        crate::plan::derive::check_saved(&back, &path).unwrap();
        let mut edited = back.clone();
        edited.items[0].update.callback_url = Some("https://evil/cb".into());
        let err = crate::plan::derive::check_saved(&edited, &path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("item 1 (t1 in cn-beijing"), "{err}");
        std::fs::write(&manifest, "updates: [] # edited\n").unwrap();
        let err = back.check_manifests(&path).unwrap_err();
        assert!(
            matches!(err, PlanFileError::ManifestChanged { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("re-run `livebatch plan --out`"));
    }

    #[test]
    fn wrong_schema_is_refused_with_advice() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        std::fs::write(&path, r#"{"schema":"livebatch.plan/v0"}"#).unwrap();
        let err = PlanFile::load(&path).unwrap_err();
        assert!(err.to_string().contains("livebatch.plan/v0"));
        std::fs::write(&path, "not json").unwrap();
        assert!(matches!(
            PlanFile::load(&path).unwrap_err(),
            PlanFileError::Parse { .. }
        ));
    }
}
