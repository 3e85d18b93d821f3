//! Local-stack helper for development (never deployed).
//!
//! - `local-stack init`: creates the table in DynamoDB Local and the bucket in the local
//!   S3 server (names from TABLE_NAME and BUCKET_NAME).
//! - `local-stack relay`: does what S3's bucket notification does in AWS. It watches the
//!   bucket's uploads/, commits/, resume/, report-requests/, signups/ and drop/ prefixes and, for every new object, invokes
//!   the import worker under `cargo lambda watch` with the same ObjectCreated event JSON
//!   AWS would send (from tests/fixtures/s3-object-created.json).

use std::collections::HashSet;
use std::time::Duration;
use training_imports::{aws, store::Store};

const PREFIXES: [&str; 6] = [
    "uploads/",
    "commits/",
    "resume/",
    "report-requests/",
    "signups/",
    "drop/",
];

async fn store() -> anyhow::Result<Store> {
    aws::store_from_env().await
}

async fn invoke(invoke_url: &str, payload: &str) -> anyhow::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = invoke_url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("invoke URL must be http://"))?;
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut stream = tokio::net::TcpStream::connect(host).await?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nX-Amz-Invocation-Type: RequestResponse\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        payload.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(payload.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

async fn relay(store: &Store) -> anyhow::Result<()> {
    let invoke_url = std::env::var("WORKER_INVOKE_URL").unwrap_or_else(|_| {
        "http://127.0.0.1:9000/2015-03-31/functions/import-worker/invocations".into()
    });
    let mut seen: HashSet<(String, String)> = HashSet::new();
    println!(
        "relay: delivering S3 ObjectCreated events from bucket {} to {invoke_url}",
        store.bucket()
    );
    loop {
        for prefix in PREFIXES {
            let mut pages = store
                .s3()
                .list_objects_v2()
                .bucket(store.bucket())
                .prefix(prefix)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = match page {
                    Ok(p) => p,
                    Err(e) => {
                        eprintln!("relay: listing {prefix} failed: {e}");
                        break;
                    }
                };
                for object in page.contents() {
                    let (Some(key), Some(etag)) = (object.key(), object.e_tag()) else {
                        continue;
                    };
                    if !seen.insert((key.to_string(), etag.to_string())) {
                        continue;
                    }
                    let event =
                        suite::s3_event_json(store.bucket(), key, object.size().unwrap_or(0), etag);
                    match invoke(&invoke_url, &event.to_string()).await {
                        Ok((200, _)) => println!("relay: delivered {key}"),
                        Ok((status, body)) => {
                            eprintln!("relay: worker answered {status} for {key}: {body}");
                            seen.remove(&(key.to_string(), etag.to_string()));
                        }
                        Err(e) => {
                            eprintln!("relay: could not reach the worker for {key}: {e}");
                            seen.remove(&(key.to_string(), etag.to_string()));
                        }
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let command = std::env::args().nth(1).unwrap_or_default();
    let store = store().await?;
    match command.as_str() {
        "init" => {
            store.create_table_if_missing().await?;
            store.create_bucket_if_missing().await?;
            println!(
                "init: table {} and bucket {} are ready",
                store.table(),
                store.bucket()
            );
            Ok(())
        }
        "relay" => relay(&store).await,
        _ => anyhow::bail!("usage: local-stack init|relay"),
    }
}
