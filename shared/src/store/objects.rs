//! S3: the uploaded files and commit requests.

use super::StoreError;
use super::{service, Store, StoreResult};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use std::collections::HashMap;
use std::time::Duration;

/// Bytes held before a part goes to S3 (S3's least part size is 5 MiB, bar the last).
pub const PART_BYTES: usize = 8 * 1024 * 1024;

/// An object written in parts as its bytes come: memory stays at one part however large
/// the object. Nothing is visible under the key until [`ObjectWriter::finish`]; a writer
/// that fails should be [`ObjectWriter::abort`]ed (a bucket lifecycle rule also clears
/// incomplete uploads).
pub struct ObjectWriter {
    store: Store,
    key: String,
    upload_id: String,
    buffer: Vec<u8>,
    parts: Vec<CompletedPart>,
}

impl ObjectWriter {
    pub async fn write(&mut self, bytes: &[u8]) -> StoreResult<()> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= PART_BYTES {
            self.send_part().await?;
        }
        Ok(())
    }

    async fn send_part(&mut self) -> StoreResult<()> {
        self.store.write_point("object part")?;
        let number = self.parts.len() as i32 + 1;
        let body = std::mem::replace(&mut self.buffer, Vec::with_capacity(PART_BYTES));
        let out = self
            .store
            .s3
            .upload_part()
            .bucket(&self.store.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(service("upload object part"))?;
        self.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag)
                .build(),
        );
        Ok(())
    }

    /// Sends what is left and makes the object visible under its key.
    pub async fn finish(mut self) -> StoreResult<()> {
        if !self.buffer.is_empty() || self.parts.is_empty() {
            self.send_part().await?;
        }
        self.store.write_point("finish object upload")?;
        self.store
            .s3
            .complete_multipart_upload()
            .bucket(&self.store.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(self.parts))
                    .build(),
            )
            .send()
            .await
            .map_err(service("finish object upload"))?;
        Ok(())
    }

    /// Gives the parts sent so far up (best effort: the lifecycle rule is the backstop).
    pub async fn abort(self) {
        let result = self
            .store
            .s3
            .abort_multipart_upload()
            .bucket(&self.store.bucket)
            .key(&self.key)
            .upload_id(&self.upload_id)
            .send()
            .await;
        if let Err(e) = result {
            tracing::warn!(key = %self.key, error = %e, "could not abort an object upload; the bucket's lifecycle rule clears it");
        }
    }
}

/// Size and body of an object being read.
pub struct ObjectInfo {
    pub size: Option<i64>,
    pub etag: Option<String>,
    pub body: ByteStream,
}

impl Store {
    pub async fn put_object(
        &self,
        key: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> StoreResult<()> {
        self.put_object_with_metadata(key, content_type, body, HashMap::new())
            .await
    }

    /// Copies an object within the bucket (S3 CopyObject: no bytes pass through here).
    pub async fn copy_object(&self, from: &str, to: &str) -> StoreResult<()> {
        self.write_point("copy object")?;
        // CopySource is `bucket/key`, the key URL-encoded (a dropped file's name may hold
        // spaces, `+`, `?`, `#` or any other character).
        const KEY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
            .remove(b'/')
            .remove(b'-')
            .remove(b'_')
            .remove(b'.')
            .remove(b'~');
        let source = format!(
            "{}/{}",
            self.bucket,
            percent_encoding::utf8_percent_encode(from, KEY)
        );
        self.s3
            .copy_object()
            .bucket(&self.bucket)
            .copy_source(source)
            .key(to)
            .send()
            .await
            .map_err(service("copy object"))?;
        Ok(())
    }

    /// The first `bytes` bytes of an object (all of it when it is shorter).
    pub async fn read_object_start(&self, key: &str, bytes: u64) -> StoreResult<Vec<u8>> {
        let out = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes=0-{}", bytes.saturating_sub(1)))
            .send()
            .await
            .map_err(service("get object start"))?;
        let data =
            out.body.collect().await.map_err(|e| {
                StoreError::Service(anyhow::Error::new(e).context("read object start"))
            })?;
        Ok(data.into_bytes().to_vec())
    }

    /// Opens an object for streaming; the caller reads the body as it arrives. With
    /// `if_match`, only that version of the object (its ETag) is read.
    pub async fn open_object(&self, key: &str, if_match: Option<&str>) -> StoreResult<ObjectInfo> {
        let out = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_if_match(if_match.map(str::to_string))
            .send()
            .await
            .map_err(service("get object"))?;
        Ok(ObjectInfo {
            size: out.content_length,
            etag: out.e_tag,
            body: out.body,
        })
    }

    /// An object's user metadata (`x-amz-meta-*`, names in lower case) and when it was
    /// last written; None when there is no such object.
    pub async fn object_metadata(
        &self,
        key: &str,
    ) -> StoreResult<Option<(HashMap<String, String>, Option<std::time::SystemTime>)>> {
        match self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                let written = out
                    .last_modified
                    .and_then(|t| std::time::SystemTime::try_from(t).ok());
                Ok(Some((out.metadata.unwrap_or_default(), written)))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(service("head object")(e)),
        }
    }

    /// A small object with user metadata.
    pub async fn put_object_with_metadata(
        &self,
        key: &str,
        content_type: &str,
        body: Vec<u8>,
        metadata: HashMap<String, String>,
    ) -> StoreResult<()> {
        self.write_point("put object")?;
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .set_metadata((!metadata.is_empty()).then_some(metadata))
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(service("put object"))?;
        Ok(())
    }

    /// Starts writing an object of any size in parts (S3 multipart upload): see
    /// [`ObjectWriter`].
    pub async fn object_writer(
        &self,
        key: &str,
        content_type: &str,
        metadata: HashMap<String, String>,
    ) -> StoreResult<ObjectWriter> {
        self.write_point("start object upload")?;
        let out = self
            .s3
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .set_metadata(Some(metadata))
            .send()
            .await
            .map_err(service("start object upload"))?;
        let upload_id = out
            .upload_id
            .ok_or_else(|| StoreError::Service(anyhow::anyhow!("S3 gave no upload id")))?;
        Ok(ObjectWriter {
            store: self.clone(),
            key: key.to_string(),
            upload_id,
            buffer: Vec::with_capacity(PART_BYTES),
            parts: Vec::new(),
        })
    }

    /// An object's whole body (for small objects the worker writes itself).
    pub async fn read_object(&self, key: &str) -> StoreResult<Vec<u8>> {
        let object = self.open_object(key, None).await?;
        let body = object
            .body
            .collect()
            .await
            .map_err(service("read object body"))?;
        Ok(body.into_bytes().to_vec())
    }

    /// A presigned GET that downloads an object under the given file name.
    pub async fn presign_download(
        &self,
        key: &str,
        file_name: &str,
        ttl: Duration,
    ) -> StoreResult<String> {
        let config = PresigningConfig::expires_in(ttl).map_err(service("presigning config"))?;
        let req = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_disposition(attachment(file_name))
            .presigned(config)
            .await
            .map_err(service("presign download"))?;
        Ok(req.uri().to_string())
    }

    /// A presigned PUT for one key, content type and exact size, valid for `ttl`: S3
    /// refuses any other key, type or length.
    pub async fn presign_upload(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        ttl: Duration,
    ) -> StoreResult<String> {
        let config = PresigningConfig::expires_in(ttl).map_err(service("presigning config"))?;
        let req = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(size as i64)
            .presigned(config)
            .await
            .map_err(service("presign upload"))?;
        Ok(req.uri().to_string())
    }
}

/// A `content-disposition` that saves a download as `file_name`, whatever it holds: an
/// ASCII name for old clients (anything else, quotes and controls as `_`) and the exact
/// name in UTF-8 (RFC 6266 `filename*`).
pub fn attachment(file_name: &str) -> String {
    let ascii: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let exact =
        percent_encoding::utf8_percent_encode(file_name, percent_encoding::NON_ALPHANUMERIC);
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{exact}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn any_file_name_makes_a_valid_content_disposition() {
        for name in [
            "errors.csv",
            "we\"ird\tname\u{7}.csv",
            "Łódź – szkolenia.csv",
            "a\r\nSet-Cookie: x.csv",
        ] {
            let value = super::attachment(name);
            assert!(http::HeaderValue::from_str(&value).is_ok(), "{value}");
            assert!(
                !value.contains('\r') && !value.contains('\n') && value.matches('"').count() == 2,
                "{value}"
            );
        }
        assert_eq!(
            super::attachment("errors.csv"),
            "attachment; filename=\"errors.csv\"; filename*=UTF-8''errors%2Ecsv"
        );
    }
}
