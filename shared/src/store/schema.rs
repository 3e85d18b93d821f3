//! The table's definition, shared by the local stack and the tests. template.yaml
//! declares the same table for AWS; `tests/template.rs` keeps the two in step.

use super::{service, Store, StoreResult};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};

/// Sparse index of pending rows (only rows waiting for a sign-up carry its keys): by
/// organisation, sorted by match key. A sign-up reads one key; a validation reads the
/// whole organisation at once when it has few pending rows.
pub const PENDING_INDEX: &str = "PendingByOrg";
pub const PENDING_INDEX_PK: &str = "pending_org";
pub const PENDING_INDEX_SK: &str = "pending_key";
/// Sparse index of an import's error rows (only rows whose outcome is `error` carry its
/// keys), in file order: the Errors filter and the error report read those rows and no
/// others, however large the import.
pub const ERRORS_INDEX: &str = "ErrorsByImport";
pub const ERRORS_INDEX_PK: &str = "error_import";
pub const ERRORS_INDEX_SK: &str = "error_row";
/// Sparse index of import summaries by organisation, newest first.
pub const IMPORTS_INDEX: &str = "ImportsByOrg";
pub const IMPORTS_INDEX_PK: &str = "org_imports";
pub const IMPORTS_INDEX_SK: &str = "created_key";

fn attr(name: &str) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .expect("name and type are set")
}

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .expect("name and type are set")
}

fn gsi(name: &str, pk: &str, sk: Option<&str>) -> GlobalSecondaryIndex {
    let mut schema = vec![key(pk, KeyType::Hash)];
    if let Some(sk) = sk {
        schema.push(key(sk, KeyType::Range));
    }
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .set_key_schema(Some(schema))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .expect("index fields are set")
}

impl Store {
    /// Creates the table if it does not exist (local stack and tests only).
    pub async fn create_table_if_missing(&self) -> StoreResult<()> {
        let exists = self
            .ddb
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
            .is_ok();
        if exists {
            return Ok(());
        }
        self.ddb
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .set_attribute_definitions(Some(vec![
                attr("pk"),
                attr("sk"),
                attr(PENDING_INDEX_PK),
                attr(PENDING_INDEX_SK),
                attr(IMPORTS_INDEX_PK),
                attr(IMPORTS_INDEX_SK),
                attr(ERRORS_INDEX_PK),
                attr(ERRORS_INDEX_SK),
            ]))
            .key_schema(key("pk", KeyType::Hash))
            .key_schema(key("sk", KeyType::Range))
            .global_secondary_indexes(gsi(PENDING_INDEX, PENDING_INDEX_PK, Some(PENDING_INDEX_SK)))
            .global_secondary_indexes(gsi(IMPORTS_INDEX, IMPORTS_INDEX_PK, Some(IMPORTS_INDEX_SK)))
            .global_secondary_indexes(gsi(ERRORS_INDEX, ERRORS_INDEX_PK, Some(ERRORS_INDEX_SK)))
            .send()
            .await
            .map_err(service("create table"))?;
        Ok(())
    }

    /// Creates the bucket if it does not exist (local stack and tests only).
    pub async fn create_bucket_if_missing(&self) -> StoreResult<()> {
        if self
            .s3
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        match self.s3.create_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            // Created meanwhile by a concurrent caller: what we wanted.
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()
                }) =>
            {
                Ok(())
            }
            Err(e) => Err(service("create bucket")(e)),
        }
    }
}
