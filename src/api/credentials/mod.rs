//! Credentials: where Alibaba Cloud users already keep them, and keeping them valid during a run.
//!
//! The chain ([`load`]) is the official SDKs' default order: `ALIBABA_CLOUD_*` AccessKey
//! variables, OIDC from the environment, the aliyun CLI's `~/.aliyun/config.json`, the INI file
//! `~/.alibabacloud/credentials`, the ECS instance RAM role (`ALIBABA_CLOUD_ECS_METADATA`), then
//! `ALIBABA_CLOUD_CREDENTIALS_URI`. It is a function of an [`Environment`] value (variables and
//! home directory) so tests never depend on, or change, the real process environment; it only
//! reads files and decides *how* credentials are obtained (a [`Spec`]). Obtaining and refreshing
//! them (STS calls, processes, HTTP) is [`provider::CredentialProvider`]'s job.
//!
//! One file per source, each holding both its step of the chain and its fetch: `static_keys`,
//! `oidc`, `ram_role`, `external`, `uri`, `ecs`, `cli_config` (profiles of the aliyun CLI) and
//! `ini` (the credentials file). Below them: `step` (what a step is given and answers),
//! `environment`, `profile_file`, `answer` (bounded answers over HTTP), `spec` and `error`.
//! Above them: `chain` (the order) and `provider`. This file only declares and re-exports.

mod answer;
mod chain;
mod cli_config;
mod ecs;
mod environment;
mod error;
mod external;
mod ini;
mod local_file;
mod oidc;
mod profile_file;
pub mod provider;
mod ram_role;
mod spec;
mod static_keys;
mod step;
mod uri;

pub use crate::api::secret::{Credentials, Secret};
pub use chain::{LoadedCredentials, load};
pub use ecs::ECS_METADATA_URL;
pub use environment::{Environment, var};
pub use error::CredentialsError;
pub use spec::{Spec, redact_url};
pub use step::CredentialSource;
