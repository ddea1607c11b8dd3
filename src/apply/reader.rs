//! Reading live state for `plan`, `diff`, `apply --plan` and `apply --verify`: the same pacing and
//! retry rules as the updates, because reads count against the same per-account quota.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::executor::PACE_HEADROOM;
use super::limiter::{GovernorPacer, Pacer, PacerError};
use super::retry::{Decision, RetryBudget, RetryPolicy, decide};
use crate::api::client::{Client, ListQuery};
use crate::api::error::ApiError;
use crate::api::models::{ListResponse, TaskState};
use crate::model::Region;
use crate::plan::fetch::LiveSource;
use crate::rules::code;

/// A [`LiveSource`] over the API client: every call paced, throttled and transient failures
/// retried with backoff (honouring `x-acs-retry-after`), anything else returned at once.
pub struct PacedReader<P: Pacer> {
    client: Client,
    pacer: Arc<P>,
    policy: RetryPolicy,
    budget: Mutex<RetryBudget>,
    rng: Mutex<StdRng>,
    calls: AtomicU64,
}

impl PacedReader<GovernorPacer> {
    /// Reads for a real run: paced like the updates, at [`PACE_HEADROOM`] of the account's quota
    /// with governor as the ceiling, and retried with the default policy.
    pub fn for_quota(client: Client, qps: f64) -> Result<Self, PacerError> {
        let pacer = GovernorPacer::new(qps * PACE_HEADROOM, qps)?;
        Ok(PacedReader::new(
            client,
            Arc::new(pacer),
            RetryPolicy::default(),
        ))
    }
}

impl<P: Pacer> PacedReader<P> {
    pub fn new(client: Client, pacer: Arc<P>, policy: RetryPolicy) -> PacedReader<P> {
        PacedReader {
            client,
            pacer,
            policy,
            budget: Mutex::new(RetryBudget::default()),
            rng: Mutex::new(StdRng::from_rng(&mut rand::rng())),
            calls: AtomicU64::new(0),
        }
    }

    /// Calls made so far, retries included.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    async fn with_retries<T, F, Fut>(&self, f: F) -> Result<T, ApiError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let mut attempts = 0;
        loop {
            self.pacer.acquire().await;
            attempts += 1;
            self.calls.fetch_add(1, Ordering::Relaxed);
            let err = match f().await {
                Ok(v) => {
                    self.budget
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .on_success(attempts - 1);
                    return Ok(v);
                }
                Err(e) => e,
            };
            let unit: f64 = self.rng.lock().unwrap_or_else(|p| p.into_inner()).random();
            let decision = {
                let mut budget = self.budget.lock().unwrap_or_else(|p| p.into_inner());
                decide(
                    &self.policy,
                    &mut budget,
                    err.class(),
                    attempts,
                    err.retry_after(),
                    unit,
                )
            };
            match decision {
                Decision::Retry { after } => tokio::time::sleep(after).await,
                Decision::GiveUp(_) | Decision::Halt => return Err(err),
            }
        }
    }
}

impl<P: Pacer> LiveSource for PacedReader<P> {
    async fn list_page(
        &self,
        region: Region,
        page_number: u32,
        page_size: u32,
    ) -> Result<ListResponse, ApiError> {
        let q = ListQuery::new(region);
        self.with_retries(|| self.client.describe_list_page(&q, page_number, page_size))
            .await
    }

    async fn describe(&self, task_id: &str, region: Region) -> Result<Option<TaskState>, ApiError> {
        match self
            .with_retries(|| self.client.describe(task_id, region))
            .await
        {
            Ok(s) => Ok(Some(s)),
            Err(ApiError::Service { code: c, .. }) if c == code::TASK_NOT_EXIST => Ok(None),
            Err(e) => Err(e),
        }
    }
}
