//! The directory: trainings, people (roster and signed up), their match keys, and
//! completions.

use super::items::{from_item, keyed, to_item, CompletionRecord, PersonKeyItem, TrainingRecord};
use super::write::Item;
use super::{service, Store, StoreError, StoreResult};
use crate::domain::{MatchKey, OrgId, PersonId, PersonRef, TrainingId};
use crate::keys;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A person's profile.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct PersonProfile {
    pub person_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employee_id: Option<String>,
    pub signed_up: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_sub: Option<String>,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_up_at: Option<String>,
}


impl Store {
    // ---- trainings -------------------------------------------------------------------

    pub async fn put_training(&self, org: &OrgId, record: &TrainingRecord) -> StoreResult<()> {
        let id = TrainingId::parse(&record.training_id).map_err(StoreError::Corrupt)?;
        self.write_point("put training")?;
        self.ddb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(keyed(keys::org_pk(org), keys::training_sk(&id), record)))
            .send()
            .await
            .map_err(service("put training"))?;
        Ok(())
    }

    /// Sets `published`; ConditionFailed when the training does not exist.
    pub async fn set_training_published(&self, org: &OrgId, id: &TrainingId, published: bool) -> StoreResult<TrainingRecord> {
        self.write_point("publish training")?;
        let out = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::org_pk(org)))
            .key("sk", s(keys::training_sk(id)))
            .update_expression("SET published = :p")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":p", AttributeValue::Bool(published))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match out {
            Ok(o) => from_item::<TrainingRecord>(o.attributes.unwrap_or_default()),
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => Err(StoreError::ConditionFailed),
                other => Err(service("publish training")(other)),
            },
        }
    }

    /// Every training of an organisation (one Query, paged).
    pub async fn list_trainings(&self, org: &OrgId) -> StoreResult<Vec<TrainingRecord>> {
        let items = self.query_all(keys::org_pk(org), Some("TRAINING#")).await?;
        items.into_iter().map(from_item::<TrainingRecord>).collect()
    }

    pub async fn get_training(&self, org: &OrgId, id: &TrainingId) -> StoreResult<Option<TrainingRecord>> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::org_pk(org)))
            .key("sk", s(keys::training_sk(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(service("get training"))?;
        out.item.map(from_item::<TrainingRecord>).transpose()
    }

    // ---- people ----------------------------------------------------------------------

    /// Writes a profile and one key item per match key it has.
    pub async fn put_person(&self, org: &OrgId, profile: &PersonProfile, match_keys: &[MatchKey]) -> StoreResult<()> {
        let pid = PersonId::parse(&profile.person_id).map_err(StoreError::Corrupt)?;
        let mut items: Vec<Item> = vec![keyed(keys::person_pk(org, &pid), keys::PROFILE_SK.into(), profile)];
        for key in match_keys {
            items.push(to_item(&PersonKeyItem {
                pk: keys::match_key_pk(org, key),
                sk: keys::person_key_sk(&pid),
                person_id: pid.to_string(),
                signed_up: profile.signed_up,
            }));
        }
        self.put_items(items).await
    }

    pub async fn get_person(&self, org: &OrgId, id: &PersonId) -> StoreResult<Option<PersonProfile>> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .key("pk", s(keys::person_pk(org, id)))
            .key("sk", s(keys::PROFILE_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(service("get person"))?;
        out.item.map(from_item::<PersonProfile>).transpose()
    }

    /// The people known under one match key (strongly consistent).
    pub async fn people_with_key(&self, org: &OrgId, key: &MatchKey) -> StoreResult<Vec<PersonRef>> {
        let items = self.query_all(keys::match_key_pk(org, key), Some("PERSON#")).await?;
        items
            .into_iter()
            .map(|item| {
                let k: PersonKeyItem = from_item(item)?;
                Ok(PersonRef { person_id: PersonId::parse(&k.person_id).map_err(StoreError::Corrupt)?, signed_up: k.signed_up })
            })
            .collect()
    }

    /// Many keys at once, with bounded concurrency.
    pub async fn people_with_keys(&self, org: &OrgId, keys_wanted: Vec<MatchKey>) -> StoreResult<HashMap<MatchKey, Vec<PersonRef>>> {
        use futures::stream::{self, StreamExt, TryStreamExt};
        stream::iter(keys_wanted)
            .map(|k| async move {
                let people = self.people_with_key(org, &k).await?;
                Ok::<_, StoreError>((k, people))
            })
            .buffer_unordered(16)
            .try_collect()
            .await
    }

    // ---- completions -----------------------------------------------------------------

    pub async fn list_completions(&self, org: &OrgId, person: &PersonId) -> StoreResult<Vec<CompletionRecord>> {
        let items = self.query_all(keys::person_pk(org, person), Some("COMPLETION#")).await?;
        items.into_iter().map(from_item::<CompletionRecord>).collect()
    }

    /// Which of the given (person, training, date) completions exist (BatchGetItem,
    /// de-duplicated, 100 keys a request, unprocessed keys resent).
    pub async fn existing_completions(
        &self,
        org: &OrgId,
        wanted: &HashSet<(PersonId, TrainingId, String)>,
    ) -> StoreResult<HashSet<(PersonId, TrainingId, String)>> {
        let all: Vec<&(PersonId, TrainingId, String)> = wanted.iter().collect();
        let mut found = HashSet::new();
        for chunk in all.chunks(100) {
            let mut keys_left: Vec<Item> = chunk
                .iter()
                .map(|(p, t, d)| {
                    HashMap::from([
                        ("pk".to_string(), s(keys::person_pk(org, p))),
                        ("sk".to_string(), s(keys::completion_sk(t, d))),
                    ])
                })
                .collect();
            let mut attempt = 0;
            while !keys_left.is_empty() {
                let req = KeysAndAttributes::builder().set_keys(Some(keys_left)).projection_expression("person_id, training_id, completed_on").build().expect("keys set");
                let out = self.ddb.batch_get_item().request_items(&self.table, req).send().await.map_err(service("batch get completions"))?;
                for item in out.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default() {
                    let get = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                    if let (Ok(p), Ok(t)) = (PersonId::parse(&get("person_id")), TrainingId::parse(&get("training_id"))) {
                        found.insert((p, t, get("completed_on")));
                    }
                }
                keys_left = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).map(|k| k.keys).unwrap_or_default();
                if !keys_left.is_empty() {
                    super::write::backoff(attempt).await;
                    attempt += 1;
                }
            }
        }
        Ok(found)
    }

    // ---- shared query helper -----------------------------------------------------------

    /// Every item of one partition (optionally with a sort-key prefix), all pages.
    pub(crate) async fn query_all(&self, pk: String, sk_prefix: Option<&str>) -> StoreResult<Vec<Item>> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .ddb
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .expression_attribute_values(":pk", s(pk.clone()))
                .set_exclusive_start_key(start.take());
            q = match sk_prefix {
                Some(prefix) => q
                    .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                    .expression_attribute_values(":prefix", s(prefix)),
                None => q.key_condition_expression("pk = :pk"),
            };
            let page = q.send().await.map_err(service("query"))?;
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(out),
            }
        }
    }
}
