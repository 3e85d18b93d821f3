//! Counts what a DynamoDB client writes, item by item, read off the requests it sends (an
//! SDK interceptor, the same kind the least-privilege test uses): items written to the
//! table per partition key, and writes to each index's partitions (an item whose index
//! key is set, kept or removed by the write). Conditional writes are counted as sent; a
//! BatchWriteItem's items left unprocessed and sent again count twice (DynamoDB Local
//! leaves none here).

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use training_imports::store::schema::{ERRORS_INDEX_PK, IMPORTS_INDEX_PK, PENDING_INDEX_PK};

/// The index partition key attributes of the table, by index.
const INDEXES: [(&str, &str); 3] = [
    ("PendingByOrg", PENDING_INDEX_PK),
    ("ErrorsByImport", ERRORS_INDEX_PK),
    ("ImportsByOrg", IMPORTS_INDEX_PK),
];

/// What was written since the counts were last taken.
#[derive(Clone, Debug, Default)]
pub struct Writes {
    /// Write requests sent.
    pub requests: u64,
    /// Items written (put, updated or deleted) by partition key.
    pub by_partition: HashMap<String, u64>,
    /// Items written inside transactions.
    pub transactional: u64,
    /// Index writes by (index, index partition key).
    pub by_index_partition: HashMap<(String, String), u64>,
    /// Not a write: match keys whose people were read (BatchGetItem of `PEOPLE` items).
    pub people_read: u64,
}

impl Writes {
    pub fn items(&self) -> u64 {
        self.by_partition.values().sum()
    }

    /// The partition that took the most writes, and how many.
    pub fn busiest(&self) -> (String, u64) {
        self.by_partition
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(k, n)| (k.clone(), *n))
            .unwrap_or_default()
    }

    /// Per index, its busiest partition and the writes it took.
    pub fn busiest_index_partitions(&self) -> BTreeMap<String, (String, u64)> {
        let mut out: BTreeMap<String, (String, u64)> = BTreeMap::new();
        for ((index, pk), n) in &self.by_index_partition {
            let e = out.entry(index.clone()).or_default();
            if *n > e.1 {
                *e = (pk.clone(), *n);
            }
        }
        out
    }
}

#[derive(Debug, Default)]
struct State {
    writes: Writes,
    /// The index keys each item was last seen with: (pk, sk) -> attribute -> value.
    index_keys: HashMap<(String, String), HashMap<String, String>>,
}

/// The interceptor; clone it into a client's configuration and keep a clone to read.
#[derive(Clone, Debug, Default)]
pub struct WriteCounter(Arc<Mutex<State>>);

impl WriteCounter {
    /// What was written since the last call, and starts counting afresh.
    pub fn take(&self) -> Writes {
        std::mem::take(&mut self.0.lock().unwrap().writes)
    }

    /// The index partition an item is in now, as far as the writes seen tell.
    pub fn index_partition(&self, index: &str, pk: &str, sk: &str) -> Option<String> {
        let attr = INDEXES.iter().find(|(i, _)| *i == index)?.1;
        let state = self.0.lock().unwrap();
        state
            .index_keys
            .get(&(pk.to_string(), sk.to_string()))?
            .get(attr)
            .cloned()
    }

    fn record(&self, target: &str, body: &Value) {
        let mut state = self.0.lock().unwrap();
        let mut writes: Vec<(Value, Option<Value>, Option<ItemChange>)> = vec![];
        match target {
            "PutItem" => writes.push((body["Item"].clone(), Some(body["Item"].clone()), None)),
            "UpdateItem" => writes.push((body["Key"].clone(), None, Some(update_change(body)))),
            "DeleteItem" => writes.push((body["Key"].clone(), None, Some(ItemChange::Deleted))),
            "BatchWriteItem" => {
                for requests in body["RequestItems"]
                    .as_object()
                    .into_iter()
                    .flat_map(|m| m.values())
                {
                    for r in requests.as_array().into_iter().flatten() {
                        if let Some(item) = r.pointer("/PutRequest/Item") {
                            writes.push((item.clone(), Some(item.clone()), None));
                        } else if let Some(key) = r.pointer("/DeleteRequest/Key") {
                            writes.push((key.clone(), None, Some(ItemChange::Deleted)));
                        }
                    }
                }
            }
            "TransactWriteItems" => {
                for t in body["TransactItems"].as_array().into_iter().flatten() {
                    if let Some(put) = t.get("Put") {
                        writes.push((put["Item"].clone(), Some(put["Item"].clone()), None));
                    } else if let Some(update) = t.get("Update") {
                        writes.push((update["Key"].clone(), None, Some(update_change(update))));
                    } else if let Some(delete) = t.get("Delete") {
                        writes.push((delete["Key"].clone(), None, Some(ItemChange::Deleted)));
                    } else {
                        continue; // ConditionCheck: no write
                    }
                    state.writes.transactional += 1;
                }
            }
            "BatchGetItem" => {
                for keys in body["RequestItems"]
                    .as_object()
                    .into_iter()
                    .flat_map(|m| m.values())
                {
                    state.writes.people_read += keys["Keys"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|k| k["sk"]["S"] == training_imports::keys::PEOPLE_SK)
                        .count() as u64;
                }
                return;
            }
            _ => return,
        }
        state.writes.requests += 1;
        for (key, put, change) in writes {
            let pk = key["pk"]["S"].as_str().unwrap_or("?").to_string();
            let sk = key["sk"]["S"].as_str().unwrap_or("?").to_string();
            *state.writes.by_partition.entry(pk.clone()).or_default() += 1;
            let before = state
                .index_keys
                .get(&(pk.clone(), sk.clone()))
                .cloned()
                .unwrap_or_default();
            let after: HashMap<String, String> = match (&put, &change) {
                (Some(item), _) => INDEXES
                    .iter()
                    .filter_map(|(_, a)| {
                        item[*a]["S"]
                            .as_str()
                            .map(|v| (a.to_string(), v.to_string()))
                    })
                    .collect(),
                (None, Some(ItemChange::Deleted)) => HashMap::new(),
                (None, Some(ItemChange::Updated { set, removed })) => {
                    let mut now = before.clone();
                    for a in removed {
                        now.remove(a);
                    }
                    now.extend(set.iter().map(|(a, v)| (a.clone(), v.clone())));
                    now
                }
                (None, None) => before.clone(),
            };
            for (index, attr) in INDEXES {
                let (old, new) = (before.get(attr), after.get(attr));
                for partition in [old, new]
                    .into_iter()
                    .flatten()
                    .collect::<std::collections::BTreeSet<_>>()
                {
                    *state
                        .writes
                        .by_index_partition
                        .entry((index.to_string(), partition.clone()))
                        .or_default() += 1;
                }
            }
            state.index_keys.insert((pk, sk), after);
        }
    }
}

enum ItemChange {
    Deleted,
    /// Index attributes the update sets (to these values) or removes.
    Updated {
        set: Vec<(String, String)>,
        removed: Vec<String>,
    },
}

/// The index attributes an UpdateItem sets or removes, read off its expression.
fn update_change(update: &Value) -> ItemChange {
    let expression = update["UpdateExpression"].as_str().unwrap_or("");
    let names = &update["ExpressionAttributeNames"];
    let values = &update["ExpressionAttributeValues"];
    let name_of = |token: &str| -> String {
        let token = token.trim();
        names[token].as_str().unwrap_or(token).to_string()
    };
    let (mut set, mut removed) = (vec![], vec![]);
    for (clause, body) in clauses(expression) {
        for part in split_top_level(&body) {
            match clause.as_str() {
                "SET" => {
                    if let Some((lhs, rhs)) = part.split_once('=') {
                        let attr = name_of(lhs);
                        if INDEXES.iter().any(|(_, a)| *a == attr) {
                            if let Some(v) = values[rhs.trim()]["S"].as_str() {
                                set.push((attr, v.to_string()));
                            }
                        }
                    }
                }
                "REMOVE" => {
                    let attr = name_of(&part);
                    if INDEXES.iter().any(|(_, a)| *a == attr) {
                        removed.push(attr);
                    }
                }
                _ => {}
            }
        }
    }
    ItemChange::Updated { set, removed }
}

/// "SET a = :a, b = :b REMOVE c" -> [("SET", "a = :a, b = :b"), ("REMOVE", "c")].
fn clauses(expression: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![];
    for word in expression.split_whitespace() {
        let upper = word.to_ascii_uppercase();
        if ["SET", "REMOVE", "ADD", "DELETE"].contains(&upper.as_str()) {
            out.push((upper, String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push(' ');
            body.push_str(word);
        }
    }
    out
}

/// Splits on commas outside parentheses.
fn split_top_level(body: &str) -> Vec<String> {
    let (mut out, mut depth, mut current) = (vec![], 0, String::new());
    for c in body.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out
}

impl aws_sdk_dynamodb::config::Intercept for WriteCounter {
    fn name(&self) -> &'static str {
        "WriteCounter"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _components: &aws_sdk_dynamodb::config::RuntimeComponents,
        _cfg: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let (target, body) = crate::operation_of(context.request());
        let body: Value = serde_json::from_slice(body).unwrap_or_default();
        self.record(&target, &body);
        Ok(())
    }
}

/// The same table and bucket as `store`, through a DynamoDB client that counts its writes.
pub async fn counting(
    store: &training_imports::store::Store,
) -> (training_imports::store::Store, WriteCounter) {
    let counter = WriteCounter::default();
    (crate::intercepted(store, counter.clone()).await, counter)
}
