//! The real sender: one `UpdateLivePullToPush` through the API client. Each call is signed afresh
//! (new date and nonce) by the client, so every retry is re-signed.

use super::executor::{Sent, UpdateSender};
use crate::api::client::Client;
use crate::api::error::ApiError;
use crate::model::Update;

impl UpdateSender for Client {
    async fn send(&self, update: &Update) -> Result<Sent, ApiError> {
        let r = self.update(update).await?;
        Ok(Sent {
            request_id: r.request_id,
        })
    }
}
