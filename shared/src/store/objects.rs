//! S3: the uploaded files and commit requests.

use super::{service, Store, StoreResult};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use std::time::Duration;

/// Size and body of an object being read.
pub struct ObjectInfo {
    pub size: Option<i64>,
    pub etag: Option<String>,
    pub body: ByteStream,
}

impl Store {
    pub async fn put_object(&self, key: &str, content_type: &str, body: Vec<u8>) -> StoreResult<()> {
        self.write_point("put object")?;
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(service("put object"))?;
        Ok(())
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
        Ok(ObjectInfo { size: out.content_length, etag: out.e_tag, body: out.body })
    }

    /// An object's whole body (for small objects the worker writes itself).
    pub async fn read_object(&self, key: &str) -> StoreResult<Vec<u8>> {
        let object = self.open_object(key, None).await?;
        let body = object.body.collect().await.map_err(service("read object body"))?;
        Ok(body.into_bytes().to_vec())
    }

    /// A presigned GET that downloads an object under the given file name.
    pub async fn presign_download(&self, key: &str, file_name: &str, ttl: Duration) -> StoreResult<String> {
        let config = PresigningConfig::expires_in(ttl).map_err(service("presigning config"))?;
        let req = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_disposition(format!("attachment; filename=\"{file_name}\""))
            .presigned(config)
            .await
            .map_err(service("presign download"))?;
        Ok(req.uri().to_string())
    }

    /// A presigned PUT for one key, content type and exact size, valid for `ttl`: S3
    /// refuses any other key, type or length.
    pub async fn presign_upload(&self, key: &str, content_type: &str, size: u64, ttl: Duration) -> StoreResult<String> {
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
