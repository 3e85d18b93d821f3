//! The directory: trainings, people (roster and signed up), their match keys, and
//! completions.

use super::items::{from_item, keyed, CompletionRecord, TrainingRecord};
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

/// The attribute of a key's people item that holds one person (`signed_up`).
const PERSON_ATTR: &str = "person:";
/// BatchGetItem requests of one lookup in flight at once.
pub(crate) const READ_CONCURRENCY: usize = 8;

/// The people a key's people item lists, by person id.
fn people_of(item: &Item) -> Vec<PersonRef> {
    let mut people: Vec<PersonRef> = item
        .iter()
        .filter_map(|(name, v)| {
            let id = name.strip_prefix(PERSON_ATTR)?;
            Some(PersonRef {
                person_id: PersonId::parse(id).ok()?,
                signed_up: *v.as_bool().ok()?,
            })
        })
        .collect();
    people.sort_by(|a, b| a.person_id.as_str().cmp(b.person_id.as_str()));
    people
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
    /// The admin who put the person on the roster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_by: Option<super::items::Stamp>,
}

impl Store {
    // ---- trainings -------------------------------------------------------------------

    pub async fn put_training(&self, org: &OrgId, record: &TrainingRecord) -> StoreResult<()> {
        let id = TrainingId::parse(&record.training_id).map_err(StoreError::Corrupt)?;
        self.write_point("put training")?;
        self.ddb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(keyed(
                keys::org_pk(org),
                keys::training_sk(&id),
                record,
            )))
            .send()
            .await
            .map_err(service("put training"))?;
        Ok(())
    }

    /// Sets `published`; ConditionFailed when the training does not exist.
    pub async fn set_training_published(
        &self,
        org: &OrgId,
        id: &TrainingId,
        published: bool,
        by: &super::items::Stamp,
    ) -> StoreResult<TrainingRecord> {
        let by = serde_dynamo::to_attribute_value::<_, AttributeValue>(by)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.write_point("publish training")?;
        let out = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::org_pk(org)))
            .key("sk", s(keys::training_sk(id)))
            .update_expression("SET published = :p, changed_by = :by")
            .expression_attribute_values(":by", by)
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":p", AttributeValue::Bool(published))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match out {
            Ok(o) => from_item::<TrainingRecord>(o.attributes.unwrap_or_default()),
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => {
                    Err(StoreError::ConditionFailed)
                }
                other => Err(service("publish training")(other)),
            },
        }
    }

    /// Every training of an organisation (one Query, paged).
    pub async fn list_trainings(&self, org: &OrgId) -> StoreResult<Vec<TrainingRecord>> {
        let items = self.query_all(keys::org_pk(org), Some("TRAINING#")).await?;
        items.into_iter().map(from_item::<TrainingRecord>).collect()
    }

    pub async fn get_training(
        &self,
        org: &OrgId,
        id: &TrainingId,
    ) -> StoreResult<Option<TrainingRecord>> {
        self.get_consistent(keys::org_pk(org), keys::training_sk(id), "get training")
            .await?
            .map(from_item::<TrainingRecord>)
            .transpose()
    }

    // ---- people ----------------------------------------------------------------------

    /// Writes a profile, and the person into the people item of each match key it has
    /// (one attribute per person, so two people added under one key at once both land),
    /// then counts the change ([`Store::count_sign_up`]): a key that meant nobody, or
    /// one person, may now mean someone else too.
    pub async fn put_person(
        &self,
        org: &OrgId,
        profile: &PersonProfile,
        match_keys: &[MatchKey],
    ) -> StoreResult<()> {
        let pid = PersonId::parse(&profile.person_id).map_err(StoreError::Corrupt)?;
        self.put_items(vec![keyed(
            keys::person_pk(org, &pid),
            keys::PROFILE_SK.into(),
            profile,
        )])
        .await?;
        self.put_person_keys(org, &pid, profile.signed_up, match_keys)
            .await?;
        self.count_sign_up(org).await
    }

    /// Writes the profile of a person signing up as the account `profile.user_sub`, unless
    /// another account already signed up as this person (ConditionFailed): a person, once
    /// signed up, is never moved to another account. Then their match keys, as
    /// [`Store::put_person`] does.
    pub async fn put_signed_up_person(
        &self,
        org: &OrgId,
        profile: &PersonProfile,
        match_keys: &[MatchKey],
    ) -> StoreResult<()> {
        let pid = PersonId::parse(&profile.person_id).map_err(StoreError::Corrupt)?;
        let sub = profile
            .user_sub
            .clone()
            .ok_or_else(|| StoreError::Corrupt("a signed-up profile without its account".into()))?;
        self.write_point("put signed-up person")?;
        let out = self
            .ddb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(keyed(
                keys::person_pk(org, &pid),
                keys::PROFILE_SK.into(),
                profile,
            )))
            .condition_expression("attribute_not_exists(user_sub) OR user_sub = :sub")
            .expression_attribute_values(":sub", s(sub))
            .send()
            .await;
        if let Err(e) = out {
            return match e.into_service_error() {
                aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(_) => Err(StoreError::ConditionFailed),
                other => Err(service("put signed-up person")(other)),
            };
        }
        self.put_person_keys(org, &pid, true, match_keys).await
    }

    async fn put_person_keys(
        &self,
        org: &OrgId,
        pid: &PersonId,
        signed_up: bool,
        match_keys: &[MatchKey],
    ) -> StoreResult<()> {
        for key in match_keys {
            self.write_point("person key")?;
            self.ddb
                .update_item()
                .table_name(&self.table)
                .key("pk", s(keys::match_key_pk(org, key)))
                .key("sk", s(keys::PEOPLE_SK))
                .update_expression("SET #p = :signed_up")
                .expression_attribute_names("#p", format!("{PERSON_ATTR}{pid}"))
                .expression_attribute_values(":signed_up", AttributeValue::Bool(signed_up))
                .send()
                .await
                .map_err(service("put person key"))?;
        }
        Ok(())
    }

    /// Counts a sign-up (or a person added) in the organisation. A sign-up calls this
    /// after it marks the person signed up and before it looks for their pending rows,
    /// so that a commit that reads the same count before its lookups and after its
    /// writes knows whether a sign-up could have missed the rows it wrote (see
    /// pipeline::commit); and a commit that finds the count the validation read before
    /// its lookups knows that every key the validation found waiting still waits.
    pub async fn count_sign_up(&self, org: &OrgId) -> StoreResult<()> {
        self.write_point("count sign-up")?;
        self.ddb
            .update_item()
            .table_name(&self.table)
            .key("pk", s(keys::org_pk(org)))
            .key("sk", s(keys::SIGN_UPS_SK))
            .update_expression("ADD sign_ups :one")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await
            .map_err(service("count sign-up"))?;
        Ok(())
    }

    /// The organisation's sign-ups so far (strongly consistent).
    pub async fn sign_ups(&self, org: &OrgId) -> StoreResult<u64> {
        let item = self
            .get_consistent(
                keys::org_pk(org),
                keys::SIGN_UPS_SK.into(),
                "read sign-up count",
            )
            .await?;
        Ok(item
            .and_then(|i| {
                i.get("sign_ups")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0))
    }

    pub async fn get_person(
        &self,
        org: &OrgId,
        id: &PersonId,
    ) -> StoreResult<Option<PersonProfile>> {
        self.get_consistent(
            keys::person_pk(org, id),
            keys::PROFILE_SK.into(),
            "get person",
        )
        .await?
        .map(from_item::<PersonProfile>)
        .transpose()
    }

    /// The people known under one match key (strongly consistent).
    pub async fn people_with_key(
        &self,
        org: &OrgId,
        key: &MatchKey,
    ) -> StoreResult<Vec<PersonRef>> {
        let item = self
            .get_consistent(
                keys::match_key_pk(org, key),
                keys::PEOPLE_SK.into(),
                "get people of a key",
            )
            .await?;
        Ok(item.map(|item| people_of(&item)).unwrap_or_default())
    }

    /// The people of many keys: BatchGetItem, strongly consistent, keys de-duplicated,
    /// 100 a request, a few requests at once, unprocessed keys resent.
    pub async fn people_with_keys(
        &self,
        org: &OrgId,
        keys_wanted: Vec<MatchKey>,
    ) -> StoreResult<HashMap<MatchKey, Vec<PersonRef>>> {
        use futures::stream::{self, StreamExt, TryStreamExt};
        let unique: Vec<MatchKey> = keys_wanted
            .into_iter()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let by_pk: HashMap<String, &MatchKey> = unique
            .iter()
            .map(|k| (keys::match_key_pk(org, k), k))
            .collect();
        let pks: Vec<&String> = by_pk.keys().collect();
        let found: Vec<Vec<(String, Vec<PersonRef>)>> = stream::iter(pks.chunks(100))
            .map(|chunk| async move {
                let wanted = chunk
                    .iter()
                    .map(|pk| {
                        HashMap::from([
                            ("pk".to_string(), s(pk.as_str())),
                            ("sk".to_string(), s(keys::PEOPLE_SK)),
                        ])
                    })
                    .collect();
                let items = self.batch_get(wanted, true).await?;
                Ok::<_, StoreError>(
                    items
                        .into_iter()
                        .filter_map(|item| {
                            Some((item.get("pk")?.as_s().ok()?.clone(), people_of(&item)))
                        })
                        .collect(),
                )
            })
            .buffer_unordered(READ_CONCURRENCY)
            .try_collect()
            .await?;
        let mut out: HashMap<MatchKey, Vec<PersonRef>> =
            unique.iter().map(|k| (k.clone(), Vec::new())).collect();
        for (pk, people) in found.into_iter().flatten() {
            if let Some(key) = by_pk.get(&pk) {
                out.insert((*key).clone(), people);
            }
        }
        Ok(out)
    }

    /// One item by key, strongly consistent.
    pub(crate) async fn get_consistent(
        &self,
        pk: String,
        sk: String,
        what: &'static str,
    ) -> StoreResult<Option<Item>> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(service(what))?;
        Ok(out.item)
    }

    /// Items by key with BatchGetItem (at most 100 keys), resending unprocessed keys.
    pub(crate) async fn batch_get(
        &self,
        mut keys_left: Vec<Item>,
        consistent: bool,
    ) -> StoreResult<Vec<Item>> {
        let mut out = Vec::with_capacity(keys_left.len());
        let mut attempt = 0;
        while !keys_left.is_empty() {
            let req = KeysAndAttributes::builder()
                .set_keys(Some(keys_left))
                .consistent_read(consistent)
                .build()
                .expect("keys set");
            let got = self
                .ddb
                .batch_get_item()
                .request_items(&self.table, req)
                .send()
                .await
                .map_err(service("batch get"))?;
            out.extend(
                got.responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default(),
            );
            keys_left = got
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .map(|k| k.keys)
                .unwrap_or_default();
            if !keys_left.is_empty() {
                if attempt >= 10 {
                    return Err(StoreError::Service(anyhow::anyhow!(
                        "batch get still had {} unprocessed keys after 10 attempts",
                        keys_left.len()
                    )));
                }
                super::write::backoff(attempt).await;
                attempt += 1;
            }
        }
        Ok(out)
    }

    // ---- completions -----------------------------------------------------------------

    pub async fn list_completions(
        &self,
        org: &OrgId,
        person: &PersonId,
    ) -> StoreResult<Vec<CompletionRecord>> {
        let items = self
            .query_all(keys::person_pk(org, person), Some("COMPLETION#"))
            .await?;
        items
            .into_iter()
            .map(from_item::<CompletionRecord>)
            .collect()
    }

    /// Which of the given (person, training, date) completions exist (BatchGetItem,
    /// de-duplicated, 100 keys a request, unprocessed keys resent).
    pub async fn existing_completions(
        &self,
        org: &OrgId,
        wanted: &HashSet<(PersonId, TrainingId, String)>,
    ) -> StoreResult<HashSet<(PersonId, TrainingId, String)>> {
        use futures::stream::{self, StreamExt, TryStreamExt};
        let all: Vec<&(PersonId, TrainingId, String)> = wanted.iter().collect();
        let requests: Vec<Vec<Item>> = all
            .chunks(100)
            .map(|chunk| {
                chunk
                    .iter()
                    .map(|(p, t, d)| {
                        HashMap::from([
                            ("pk".to_string(), s(keys::person_pk(org, p))),
                            ("sk".to_string(), s(keys::completion_sk(t, d))),
                        ])
                    })
                    .collect()
            })
            .collect();
        let pages: Vec<Vec<Item>> = stream::iter(requests)
            .map(|keys| self.batch_get(keys, false))
            .buffer_unordered(READ_CONCURRENCY)
            .try_collect()
            .await?;
        let mut found = HashSet::new();
        for item in pages.into_iter().flatten() {
            let get = |k: &str| {
                item.get(k)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            if let (Ok(p), Ok(t)) = (
                PersonId::parse(&get("person_id")),
                TrainingId::parse(&get("training_id")),
            ) {
                found.insert((p, t, get("completed_on")));
            }
        }
        Ok(found)
    }

    // ---- shared query helper -----------------------------------------------------------

    /// Every item of one partition (optionally with a sort-key prefix), all pages.
    pub(crate) async fn query_all(
        &self,
        pk: String,
        sk_prefix: Option<&str>,
    ) -> StoreResult<Vec<Item>> {
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
