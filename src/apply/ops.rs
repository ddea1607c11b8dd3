//! The task operations the engine calls, as one trait with every method required: the real API
//! client implements it (`sender.rs`), tests implement it with fakes. One call each, never retried
//! here: pacing and retries are the engine's ([`super::engine::Engine::call`]).

use std::future::Future;

use crate::api::error::ApiError;
use crate::api::models::{ListResponse, TaskState};
use crate::model::{Region, Update};

/// What a successful write returned that the report keeps.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sent {
    pub request_id: String,
}

/// The pull-to-push calls a run makes. Each call must be signed afresh (new date and nonce): the
/// engine calls again to retry.
pub trait TaskOps: Send + Sync + 'static {
    /// `UpdateLivePullToPush` with exactly the update's parameters.
    fn update(&self, update: &Update) -> impl Future<Output = Result<Sent, ApiError>> + Send;
    fn stop(
        &self,
        task_id: &str,
        region: Region,
    ) -> impl Future<Output = Result<Sent, ApiError>> + Send;
    fn restart(
        &self,
        task_id: &str,
        region: Region,
    ) -> impl Future<Output = Result<Sent, ApiError>> + Send;
    /// The task's live state, `None` when it does not exist (`CodeTaskNotExist`).
    fn describe(
        &self,
        task_id: &str,
        region: Region,
    ) -> impl Future<Output = Result<Option<TaskState>, ApiError>> + Send;
    /// One page of the region's tasks.
    fn list_page(
        &self,
        region: Region,
        page_number: u32,
        page_size: u32,
    ) -> impl Future<Output = Result<ListResponse, ApiError>> + Send;
}
