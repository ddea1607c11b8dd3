//! Saved plans: what a person reviewed, in a file CI can apply exactly.
//!
//! A plan records the manifests it came from (by hash), the tool version, and for each item the
//! decision, the exact update that would be sent, and a fingerprint of the live state it was planned
//! against. `apply --plan` refuses a plan whose manifests changed, and refuses (per item) any task
//! whose live state moved since planning. Plans hold no credentials.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

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
    /// Where the task was found, when not in the update's `Region` (a move is planned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_region: Option<Region>,
}

/// A whole saved plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanFile {
    pub schema: String,
    pub tool_version: String,
    /// When the plan was made (`plan --now`, else the clock): the instant its items are derived
    /// at, and what `apply --max-age` measures its age from ([`check_age`]). A plan without one
    /// is refused when loaded ([`PlanFileError::NoCreationTime`]).
    pub created_at: ApiTime,
    pub restart_running: bool,
    /// Planned with `--partial` (absent in plans saved before it existed: false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    pub manifests: Vec<ManifestRef>,
    pub items: Vec<PlanItem>,
}

/// Why a saved plan could not be read or used.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    #[error(
        "the plan {path} has no creation time (`created_at`): how old it is (--max-age) and what \
         its items were derived at cannot be known; make it again with `livebatch plan --out` \
         (which records one) and review it again"
    )]
    NoCreationTime { path: String },
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
            partial: options.partial,
            manifests,
            items,
        }
    }

    /// Writes the plan atomically (temp file, fsync, rename), so a crash never leaves half a plan.
    /// Returns the SHA-256 (hex) of the bytes written: the saved plan's identity, shown to the
    /// reviewer (`plan --format markdown`) so the file CI applies can be checked against it.
    pub fn save(&self, path: &Path) -> Result<String, PlanFileError> {
        use sha2::{Digest, Sha256};
        let err = |source| PlanFileError::Write {
            path: path.display().to_string(),
            source,
        };
        let json = serde_json::to_vec_pretty(self).expect("plan types always serialize");
        crate::fsutil::write_atomic(path, &json).map_err(err)?;
        Ok(hex::encode(Sha256::digest(&json)))
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
        // Said plainly rather than as serde's "missing field": without it neither the items can
        // be derived again nor `--max-age` tell how old the plan is.
        if value
            .get("created_at")
            .is_none_or(serde_json::Value::is_null)
        {
            return Err(PlanFileError::NoCreationTime { path: shown });
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

/// Why `apply --plan PLAN --max-age DURATION` refuses a plan by its age.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanAgeError {
    #[error(
        "the plan was made at {created_at}, {} ago, older than --max-age {}: live state may have \
         moved since it was reviewed; make a new plan (`livebatch plan --out`) and review it again",
        format_duration(*age),
        format_duration(*max_age)
    )]
    TooOld {
        created_at: ApiTime,
        age: Duration,
        max_age: Duration,
    },
    #[error(
        "the plan says it was made at {created_at}, {} from now: this machine's clock or the \
         plan's creation time is wrong; check the clock, or make the plan again",
        format_duration(*ahead)
    )]
    FromTheFuture {
        created_at: ApiTime,
        ahead: Duration,
    },
}

/// How far a plan's creation time may be ahead of `now` before it is refused: clocks of two
/// CI runners differ by seconds, not by minutes.
pub const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// Whether a saved plan is young enough to apply: made at most `max_age` before `now`.
/// Pure (the caller passes the clock), so the boundary is tested exactly: a plan exactly
/// `max_age` old is accepted, one second more is refused.
pub fn check_age(plan: &PlanFile, now: ApiTime, max_age: Duration) -> Result<(), PlanAgeError> {
    let created_at = plan.created_at;
    let secs = now.0.signed_duration_since(created_at.0).num_seconds();
    if secs < 0 {
        let ahead = Duration::from_secs(secs.unsigned_abs());
        if ahead > CLOCK_SKEW {
            return Err(PlanAgeError::FromTheFuture { created_at, ahead });
        }
        return Ok(());
    }
    let age = Duration::from_secs(secs.unsigned_abs());
    if age > max_age {
        return Err(PlanAgeError::TooOld {
            created_at,
            age,
            max_age,
        });
    }
    Ok(())
}

/// Why a duration such as `--max-age 2h` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration: give a number with a unit, e.g. 90s, 5m, 2h or 1d")]
    Empty,
    #[error(
        "{text:?} is not a duration: give whole numbers each with a unit s, m, h or d \
         (e.g. 90s, 5m, 2h, 1d, 1h30m)"
    )]
    Invalid { text: String },
    #[error("{text:?} is zero: a duration must be at least 1s")]
    Zero { text: String },
    #[error("{text:?} is too long a duration")]
    Overflow { text: String },
}

/// Reads a duration of whole seconds, minutes, hours or days: `90s`, `5m`, `2h`, `1d`, or
/// several together from the largest unit down (`1h30m`). A bare number is refused: `--max-age
/// 30` could mean seconds or minutes, and guessing wrong would apply a plan nobody should.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(DurationError::Empty);
    }
    let invalid = || DurationError::Invalid {
        text: text.to_string(),
    };
    let overflow = || DurationError::Overflow {
        text: text.to_string(),
    };
    let mut total: u64 = 0;
    let mut last_unit = u64::MAX;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| overflow())?;
        let unit = match rest.as_bytes().get(digits) {
            Some(b's') => 1,
            Some(b'm') => 60,
            Some(b'h') => 3600,
            Some(b'd') => 86_400,
            _ => return Err(invalid()),
        };
        // Each unit once, largest first: `5m1h` is more likely a typo than a duration.
        if unit >= last_unit {
            return Err(invalid());
        }
        last_unit = unit;
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(overflow)?;
        rest = &rest[digits + 1..];
    }
    if total == 0 {
        return Err(DurationError::Zero {
            text: text.to_string(),
        });
    }
    Ok(Duration::from_secs(total))
}

/// A duration as the largest units that say it: `1d2h`, `2h05m`, `3m20s`, `45s`.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, sec) = (s / 86_400, (s / 3600) % 24, (s / 60) % 60, s % 60);
    if days > 0 {
        if h > 0 {
            format!("{days}d{h}h")
        } else {
            format!("{days}d")
        }
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{sec:02}s")
    } else {
        format!("{sec}s")
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

    fn plan_made_at(created_at: &str) -> PlanFile {
        PlanFile::new(
            PlanOptions::default(),
            ApiTime::parse(created_at).unwrap(),
            vec![],
            vec![],
        )
    }

    #[test]
    fn check_age_accepts_up_to_the_limit_and_says_why_it_refuses() {
        let plan = plan_made_at("2027-01-01T00:00:00Z");
        let at = |t: &str| ApiTime::parse(t).unwrap();
        let two_hours = Duration::from_secs(7200);
        check_age(&plan, at("2027-01-01T00:00:00Z"), two_hours).unwrap();
        check_age(&plan, at("2027-01-01T02:00:00Z"), two_hours).unwrap();
        let err = check_age(&plan, at("2027-01-01T02:00:01Z"), two_hours).unwrap_err();
        assert_eq!(
            err,
            PlanAgeError::TooOld {
                created_at: at("2027-01-01T00:00:00Z"),
                age: Duration::from_secs(7201),
                max_age: two_hours,
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("2027-01-01T00:00:00Z"), "{msg}");
        assert!(msg.contains("2h00m ago"), "{msg}");
        assert!(msg.contains("--max-age 2h00m"), "{msg}");
        assert!(msg.contains("review it again"), "{msg}");
        // A runner a little behind the planner's clock is fine; far behind is refused.
        check_age(&plan, at("2026-12-31T23:56:00Z"), two_hours).unwrap();
        let err = check_age(&plan, at("2026-12-31T23:00:00Z"), two_hours).unwrap_err();
        assert!(matches!(err, PlanAgeError::FromTheFuture { .. }), "{err}");
        assert!(err.to_string().contains("1h00m from now"), "{err}");
    }

    #[test]
    fn a_plan_without_creation_time_is_refused_with_a_message() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        let mut json: serde_json::Value =
            serde_json::to_value(plan_made_at("2027-01-01T00:00:00Z")).unwrap();
        json.as_object_mut().unwrap().remove("created_at");
        for doc in [json.clone(), {
            json["created_at"] = serde_json::Value::Null;
            json
        }] {
            std::fs::write(&path, doc.to_string()).unwrap();
            let err = PlanFile::load(&path).unwrap_err();
            assert!(matches!(err, PlanFileError::NoCreationTime { .. }), "{err}");
            let msg = err.to_string();
            assert!(msg.contains("no creation time"), "{msg}");
            assert!(msg.contains("--max-age"), "{msg}");
            assert!(msg.contains("livebatch plan --out"), "{msg}");
        }
    }

    #[test]
    fn durations_read_each_unit_and_refuse_what_is_ambiguous() {
        let secs = |t: &str| parse_duration(t).map(|d| d.as_secs());
        assert_eq!(secs("90s"), Ok(90));
        assert_eq!(secs("5m"), Ok(300));
        assert_eq!(secs("2h"), Ok(7200));
        assert_eq!(secs("1d"), Ok(86_400));
        assert_eq!(secs("1h30m"), Ok(5400));
        assert_eq!(secs(" 1d2h3m4s "), Ok(93_784));
        for bad in ["30", "5x", "m", "1.5h", "-1h", "5m1h", "1h1h", "1 h", "h1"] {
            assert!(
                matches!(parse_duration(bad), Err(DurationError::Invalid { .. })),
                "{bad}: {:?}",
                parse_duration(bad)
            );
        }
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert!(matches!(
            parse_duration("0s"),
            Err(DurationError::Zero { .. })
        ));
        assert!(matches!(
            parse_duration("99999999999999999999d"),
            Err(DurationError::Overflow { .. })
        ));
        assert!(matches!(
            parse_duration("999999999999999999d"),
            Err(DurationError::Overflow { .. })
        ));
        let msg = parse_duration("30").unwrap_err().to_string();
        assert!(msg.contains("90s, 5m, 2h, 1d"), "{msg}");
    }

    #[test]
    fn durations_format_in_their_largest_units() {
        let f = |s| format_duration(Duration::from_secs(s));
        assert_eq!(f(0), "0s");
        assert_eq!(f(45), "45s");
        assert_eq!(f(200), "3m20s");
        assert_eq!(f(7500), "2h05m");
        assert_eq!(f(86_400), "1d");
        assert_eq!(f(93_784), "1d2h");
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
