//! The real sender: each call through the API client. Each call is signed afresh (new date and
//! nonce) by the client, so every retry is re-signed.

use super::executor::{Sent, UpdateSender};
use crate::api::client::Client;
use crate::api::error::ApiError;
use crate::api::models::TaskState;
use crate::model::{Region, Update};
use crate::rules::code;

impl UpdateSender for Client {
    async fn send(&self, update: &Update) -> Result<Sent, ApiError> {
        let r = self.update(update).await?;
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
}
