//! The real task operations: each call through the API client. Each call is signed afresh (new
//! date and nonce) by the client, so every retry is re-signed.

use super::ops::{Sent, TaskOps};
use crate::api::client::{Client, ListQuery};
use crate::api::error::ApiError;
use crate::api::models::{ListResponse, TaskState};
use crate::model::{Region, Update};
use crate::rules::code;

impl TaskOps for Client {
    async fn update(&self, update: &Update) -> Result<Sent, ApiError> {
        let r = Client::update(self, update).await?;
        Ok(Sent {
            request_id: r.request_id,
        })
    }

    async fn stop(&self, task_id: &str, region: Region) -> Result<Sent, ApiError> {
        let r = Client::stop(self, task_id, region).await?;
        Ok(Sent {
            request_id: r.request_id,
        })
    }

    async fn restart(&self, task_id: &str, region: Region) -> Result<Sent, ApiError> {
        let r = Client::restart(self, task_id, region).await?;
        Ok(Sent {
            request_id: r.request_id,
        })
    }

    async fn describe(&self, task_id: &str, region: Region) -> Result<Option<TaskState>, ApiError> {
        match Client::describe(self, task_id, region).await {
            Ok(state) => Ok(Some(state)),
            Err(ApiError::Service { code: c, .. }) if c == code::TASK_NOT_EXIST => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn list_page(
        &self,
        region: Region,
        page_number: u32,
        page_size: u32,
    ) -> Result<ListResponse, ApiError> {
        let q = ListQuery::new(region);
        self.describe_list_page(&q, page_number, page_size).await
    }
}
