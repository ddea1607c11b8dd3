//! The credentials URI (`ALIBABA_CLOUD_CREDENTIALS_URI`, or a profile's `CredentialsURI` mode): a
//! URL answering temporary credentials as JSON. The chain's last step; shown without its query,
//! which may carry a token.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::answer::{get_body, parse_session};
use super::environment::var;
use super::error::{CredentialsError, FetchFailure};
use super::spec::{Spec, redact_url};
use super::step::{Answer, Ask, CredentialSource};
use crate::api::secret::Credentials;

/// The official URL provider's timeouts (credentials-go `URLCredentialsProvider`: 5 s connect,
/// 10 s read).
const URI_TIMEOUT: Duration = Duration::from_secs(15);

/// The variable set: this URL.
pub fn from_env(ask: &Ask<'_>) -> Result<Answer, CredentialsError> {
    Ok(match ask.env.var(var::CREDENTIALS_URI) {
        Some(url) => Answer::found(
            Spec::Uri {
                url: url.to_string(),
            },
            CredentialSource::CredentialsUri,
        ),
        None => Answer::Skipped(format!(
            "credentials URI: {} is not set",
            var::CREDENTIALS_URI
        )),
    })
}

/// GET the credentials URI.
pub async fn fetch(
    http: &reqwest::Client,
    url: &str,
) -> Result<(Credentials, DateTime<Utc>), FetchFailure> {
    let shown = redact_url(url);
    let parsed = url::Url::parse(url.trim())
        .map_err(|e| FetchFailure::permanent(format!("{shown} is not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(FetchFailure::permanent(format!(
            "{shown}: only http:// and https:// URLs are read"
        )));
    }
    let (status, body) = get_body(http.get(parsed), &shown, URI_TIMEOUT).await?;
    if status != 200 {
        return Err(FetchFailure {
            message: format!("{shown} answered HTTP {status}"),
            transient: status >= 500,
        });
    }
    parse_session(&body).map_err(|m| FetchFailure::permanent(format!("{shown}: {m}")))
}
