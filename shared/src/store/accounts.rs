//! Accounts and join codes: who may sign up, and which person an account became.
//!
//! An account item (`keys::account_pk`) is written once, when the account first signs
//! up, with the person it became and the keys it had proven or an admin had vouched for
//! at that moment. Every later sign-in reads it instead of the token, so a key the user
//! changes afterwards (a phone number, a name, an unverified email) reaches nothing.

use super::items::{from_item, keyed, Stamp};
use super::{service, Store, StoreError, StoreResult};
use crate::domain::{JoinCode, OrgId, PersonId};
use crate::keys;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// An account of the user pool and the person it signed up as.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccountRecord {
    pub user_sub: String,
    pub person_id: String,
    /// The keys the account had proven (verified email or phone) or an admin had set
    /// (employee ID, an invitation's name) when it signed up; the only ones it claims by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employee_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub created_at: String,
}

/// A join code of an organisation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct JoinCodeRecord {
    pub code: String,
    pub org_id: String,
    pub created: Stamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<Stamp>,
}

/// A self sign-up that passed PreSignUp: which organisation, by which code.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct JoinIntent {
    pub org_id: String,
    pub code: String,
    pub at: String,
    /// Seconds since the epoch after which DynamoDB's TTL may remove it.
    pub expires_at: i64,
}

/// A join intent is needed from the sign-up until its confirmation (Cognito's codes
/// last 24 hours), and at the account's first sign-in.
const JOIN_INTENT_DAYS: i64 = 30;

impl Store {
    pub async fn get_account(
        &self,
        org: &OrgId,
        user_sub: &PersonId,
    ) -> StoreResult<Option<AccountRecord>> {
        let item = self
            .get_consistent(
                keys::account_pk(org, user_sub),
                keys::ACCOUNT_SK.into(),
                "get account",
            )
            .await?;
        item.map(from_item::<AccountRecord>).transpose()
    }

    /// Writes the account item unless it exists, and returns the one that stands (the
    /// first writer's, when two sign-ups of one account race).
    pub async fn put_account_once(
        &self,
        org: &OrgId,
        account: &AccountRecord,
    ) -> StoreResult<AccountRecord> {
        let sub = PersonId::parse(&account.user_sub).map_err(StoreError::Corrupt)?;
        self.write_point("put account")?;
        let out = self
            .ddb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(keyed(
                keys::account_pk(org, &sub),
                keys::ACCOUNT_SK.into(),
                account,
            )))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match out {
            Ok(_) => Ok(account.clone()),
            Err(e) => match e.into_service_error() {
                PutItemError::ConditionalCheckFailedException(_) => {
                    self.get_account(org, &sub).await?.ok_or_else(|| {
                        StoreError::Corrupt("account vanished after its write lost".into())
                    })
                }
                other => Err(service("put account")(other)),
            },
        }
    }

    // ---- join codes ---------------------------------------------------------------------

    /// Writes a new code: the lookup item and the organisation's copy in one transaction.
    pub async fn create_join_code(
        &self,
        org: &OrgId,
        code: &JoinCode,
        by: &Stamp,
    ) -> StoreResult<JoinCodeRecord> {
        let record = JoinCodeRecord {
            code: code.as_str().to_string(),
            org_id: org.to_string(),
            created: by.clone(),
            revoked: None,
        };
        let put = |pk: String, sk: String| {
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(keyed(pk, sk, &record)))
                        .condition_expression("attribute_not_exists(pk)")
                        .build()
                        .expect("table and item set"),
                )
                .build()
        };
        self.write_point("create join code")?;
        self.ddb
            .transact_write_items()
            .transact_items(put(keys::join_code_pk(code), keys::JOIN_CODE_SK.into()))
            .transact_items(put(keys::org_pk(org), keys::org_join_code_sk(code)))
            .send()
            .await
            .map_err(service("create join code"))?;
        Ok(record)
    }

    /// Marks a code of `org` revoked (both items); ConditionFailed when `org` has no such
    /// code. Revoking twice keeps the first revocation.
    pub async fn revoke_join_code(
        &self,
        org: &OrgId,
        code: &JoinCode,
        by: &Stamp,
    ) -> StoreResult<()> {
        let stamp = serde_dynamo::to_attribute_value::<_, AttributeValue>(by)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let update = |pk: String, sk: String| {
            TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name(&self.table)
                        .key("pk", s(pk))
                        .key("sk", s(sk))
                        .update_expression("SET revoked = if_not_exists(revoked, :by)")
                        .condition_expression("org_id = :org")
                        .expression_attribute_values(":by", stamp.clone())
                        .expression_attribute_values(":org", s(org.as_str()))
                        .build()
                        .expect("table, key and expression set"),
                )
                .build()
        };
        self.write_point("revoke join code")?;
        let out = self
            .ddb
            .transact_write_items()
            .transact_items(update(keys::join_code_pk(code), keys::JOIN_CODE_SK.into()))
            .transact_items(update(keys::org_pk(org), keys::org_join_code_sk(code)))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(_) => Err(StoreError::ConditionFailed),
                other => Err(service("revoke join code")(other)),
            },
        }
    }

    pub async fn list_join_codes(&self, org: &OrgId) -> StoreResult<Vec<JoinCodeRecord>> {
        let items = self
            .query_all(keys::org_pk(org), Some(keys::ORG_JOIN_CODE_PREFIX))
            .await?;
        items.into_iter().map(from_item::<JoinCodeRecord>).collect()
    }

    /// The code as the PreSignUp trigger finds it, revoked or not.
    pub async fn find_join_code(&self, code: &JoinCode) -> StoreResult<Option<JoinCodeRecord>> {
        let item = self
            .get_consistent(
                keys::join_code_pk(code),
                keys::JOIN_CODE_SK.into(),
                "get join code",
            )
            .await?;
        item.map(from_item::<JoinCodeRecord>).transpose()
    }

    /// Records that the account `user_name` is signing up into `org` with `code`.
    pub async fn put_join_intent(
        &self,
        user_name: &str,
        org: &OrgId,
        code: &JoinCode,
    ) -> StoreResult<()> {
        let now = chrono::Utc::now();
        let intent = JoinIntent {
            org_id: org.to_string(),
            code: code.as_str().to_string(),
            at: super::now_rfc3339(),
            expires_at: now.timestamp() + JOIN_INTENT_DAYS * 86_400,
        };
        self.write_point("put join intent")?;
        self.ddb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(keyed(
                keys::join_intent_pk(user_name),
                keys::JOIN_INTENT_SK.into(),
                &intent,
            )))
            .send()
            .await
            .map_err(service("put join intent"))?;
        Ok(())
    }

    pub async fn join_intent(&self, user_name: &str) -> StoreResult<Option<JoinIntent>> {
        let item = self
            .get_consistent(
                keys::join_intent_pk(user_name),
                keys::JOIN_INTENT_SK.into(),
                "get join intent",
            )
            .await?;
        item.map(from_item::<JoinIntent>).transpose()
    }
}
