//! An organisation's column mappings, remembered per set of headers: the mapping an admin
//! gave a file is offered again for the next file with the same headers (an HR system's
//! monthly export keeps its columns).

use super::items::{from_item, keyed, Stamp};
use super::{service, Store, StoreResult};
use crate::domain::OrgId;
use crate::keys;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A mapping from a role (`email`, `training`, ...) to the header that holds it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RememberedMapping {
    pub headers: Vec<String>,
    pub columns: BTreeMap<String, String>,
    pub by: Stamp,
}

/// Headers compared as the reader compares them (case, spaces and punctuation ignored),
/// in any order.
fn header_set(headers: &[String]) -> Vec<u8> {
    let mut keys: Vec<String> = headers
        .iter()
        .map(|h| crate::csv_input::header_key(h))
        .filter(|k| !k.is_empty())
        .collect();
    keys.sort();
    keys.dedup();
    keys.join("\u{1f}").into_bytes()
}

fn mapping_sk(headers: &[String]) -> String {
    format!(
        "{}{:016x}",
        keys::MAPPING_PREFIX,
        crate::domain::stable_hash(&[&header_set(headers)])
    )
}

impl Store {
    /// Keeps `columns` as the organisation's mapping for files with these headers (the
    /// latest one given wins).
    pub async fn remember_mapping(
        &self,
        org: &OrgId,
        headers: &[String],
        columns: &BTreeMap<String, String>,
        by: &Stamp,
    ) -> StoreResult<()> {
        self.write_point("remember mapping")?;
        let record = RememberedMapping {
            headers: headers.to_vec(),
            columns: columns.clone(),
            by: by.clone(),
        };
        self.ddb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(keyed(keys::org_pk(org), mapping_sk(headers), &record)))
            .send()
            .await
            .map_err(service("remember mapping"))?;
        Ok(())
    }

    /// The mapping last given for files with these headers, if any.
    pub async fn remembered_mapping(
        &self,
        org: &OrgId,
        headers: &[String],
    ) -> StoreResult<Option<RememberedMapping>> {
        let item = self
            .get_consistent(keys::org_pk(org), mapping_sk(headers), "remembered mapping")
            .await?;
        item.map(from_item::<RememberedMapping>).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_headers_in_another_order_or_case_share_a_mapping() {
        let a = ["Correo", "Curso", "Fecha"].map(String::from);
        let b = ["fecha", " CURSO ", "correo"].map(String::from);
        let c = ["Correo", "Curso"].map(String::from);
        assert_eq!(mapping_sk(&a), mapping_sk(&b));
        assert_ne!(mapping_sk(&a), mapping_sk(&c));
        assert!(mapping_sk(&a).starts_with(keys::MAPPING_PREFIX));
    }
}
