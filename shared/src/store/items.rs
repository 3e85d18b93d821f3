//! Item shapes of the directory (trainings, people, match keys, completions) and their
//! conversion with serde_dynamo. Keys come from crate::keys only.

use super::write::Item;
use super::StoreError;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

pub(crate) fn to_item<T: Serialize>(value: &T) -> Item {
    serde_dynamo::to_item(value).expect("our item types always serialise to a map")
}

pub(crate) fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainingRecord {
    pub training_id: String,
    pub title: String,
    pub published: bool,
    pub created_at: String,
    /// Who created it, or last published or unpublished it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_by: Option<Stamp>,
}

/// A record's attributes plus its table keys.
pub(crate) fn keyed<T: Serialize>(pk: String, sk: String, record: &T) -> Item {
    let mut item = to_item(record);
    item.insert("pk".into(), aws_sdk_dynamodb::types::AttributeValue::S(pk));
    item.insert("sk".into(), aws_sdk_dynamodb::types::AttributeValue::S(sk));
    item
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CompletionRecord {
    pub person_id: String,
    pub training_id: String,
    pub training_title: String,
    pub completed_on: String,
    pub source_import: String,
    pub source_row: u64,
    pub recorded_at: String,
}

/// Who did something and when: an admin (the token's `sub` and email) or, for a row a
/// sign-up applied, the account that signed up.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stamp {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub at: String,
}

impl Stamp {
    /// `sub` (and email) now.
    pub fn now(sub: &str, email: Option<&str>) -> Stamp {
        Stamp {
            sub: sub.to_string(),
            email: email.map(str::to_string),
            at: super::now_rfc3339(),
        }
    }
}
