//! AWS clients and configuration from the environment, built once per cold start.
//!
//! `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL_S3` (the SDK's own variables) point
//! the clients at DynamoDB Local and the local S3 server; S3 then uses path-style keys.

use aws_config::BehaviorVersion;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// Names of the resources, read from the environment at start-up.
#[derive(Clone, Debug)]
pub struct Resources {
    pub table: String,
    pub bucket: String,
}

impl Resources {
    /// Fails at start-up, not on the first request, when a variable is missing.
    pub fn from_env() -> anyhow::Result<Resources> {
        let var = |name: &str| {
            std::env::var(name)
                .map_err(|_| anyhow::anyhow!("environment variable {name} is not set"))
        };
        Ok(Resources {
            table: var("TABLE_NAME")?,
            bucket: var("BUCKET_NAME")?,
        })
    }
}

/// The HTTP client every SDK client uses: rustls with ring (no aws-lc to compile).
pub fn http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The SDK configuration from the environment (region, credentials, endpoints).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client())
        .load()
        .await
}

pub fn dynamodb_client(config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(config)
}

pub fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let local =
        std::env::var("AWS_ENDPOINT_URL_S3").is_ok() || std::env::var("AWS_ENDPOINT_URL").is_ok();
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(local)
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
}

/// The store every function uses, from the environment: clients built once per cold
/// start, resource names checked at start-up.
pub async fn store_from_env() -> anyhow::Result<crate::store::Store> {
    let resources = Resources::from_env()?;
    let config = sdk_config().await;
    let store = crate::store::Store::new(
        dynamodb_client(&config),
        s3_client(&config),
        resources.table,
        resources.bucket,
    );
    // Imports with more error rows than this get their error report from the worker (default
    // REPORT_INLINE_ROWS); lower it where API requests must stay short.
    match std::env::var("REPORT_INLINE_ROWS") {
        Ok(v) => {
            let rows = v.trim().parse::<u64>().map_err(|_| {
                anyhow::anyhow!("REPORT_INLINE_ROWS must be a whole number of rows, not '{v}'")
            })?;
            Ok(store.with_report_inline_rows(rows))
        }
        Err(_) => Ok(store),
    }
}
