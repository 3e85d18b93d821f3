//! The layout of keys in DynamoDB and S3, in one place. Every key starts with the
//! organisation, so no request can reach another organisation's items or objects;
//! the only exceptions are the join code and the join intent, which the sign-up
//! triggers read before an organisation is known (see their functions).

use crate::domain::{ImportId, JoinCode, MatchKey, MatchMethod, OrgId, PersonId, TrainingId};

pub fn org_pk(org: &OrgId) -> String {
    format!("ORG#{org}")
}
pub fn training_sk(id: &TrainingId) -> String {
    format!("TRAINING#{id}")
}
pub fn person_pk(org: &OrgId, person: &PersonId) -> String {
    format!("ORG#{org}#PERSON#{person}")
}
pub const PROFILE_SK: &str = "PROFILE";
/// Sort key (in the organisation's partition) of the count of sign-ups so far.
pub const SIGN_UPS_SK: &str = "SIGN_UPS";
pub fn completion_sk(training: &TrainingId, date_iso: &str) -> String {
    format!("COMPLETION#{training}#{date_iso}")
}
/// The partition holding every person with one match key; also the pending-row index key.
pub fn match_key_pk(org: &OrgId, key: &MatchKey) -> String {
    format!("ORG#{org}#KEY#{}#{}", key.method(), key.value())
}
/// The start shared by every `match_key_pk` of one method.
pub fn match_key_prefix(org: &OrgId, method: MatchMethod) -> String {
    format!("ORG#{org}#KEY#{method}#")
}
/// Sort key of a match key's people item: one attribute per person known by the key.
pub const PEOPLE_SK: &str = "PEOPLE";
pub fn import_pk(org: &OrgId, import: &ImportId) -> String {
    format!("ORG#{org}#IMPORT#{import}")
}
pub const SUMMARY_SK: &str = "SUMMARY";
pub fn row_sk(row: u64) -> String {
    format!("ROW#{row:09}")
}
/// Sort key of a page of validated rows, by its last line (so the page holding a line
/// is the first whose key is at or after the line's).
pub fn page_sk(last_line: u64) -> String {
    format!("PAGE#{last_line:09}")
}
/// Sort key of what the commit did to the rows of one of its pages, in the import's
/// partition, by the page's last line (so the outcome covering a line is the first whose
/// key is at or after the line's).
pub fn outcome_sk(last_line: u64) -> String {
    format!("{OUTCOME_PREFIX}{last_line:09}")
}
/// The start of every commit outcome's sort key.
pub const OUTCOME_PREFIX: &str = "OUTCOME#";
/// Sort key of a pending row's own item (beside its page), the one the pending index
/// holds and a sign-up or a delete changes.
pub fn pending_row_sk(line: u64) -> String {
    format!("PENDING#{line:09}")
}
/// Sort key of an import's waiting group in a match key's partition (beside its
/// people item): the rows of one import waiting for one key, from `first_line` on for
/// the later parts of a group too large for one item (`None`: the group's first part).
pub fn group_sk(import: &ImportId, first_line: Option<u64>) -> String {
    match first_line {
        None => format!("{GROUP_PREFIX}{import}"),
        Some(line) => format!("{GROUP_PREFIX}{import}#{line:09}"),
    }
}
/// The start of every waiting group's sort key.
pub const GROUP_PREFIX: &str = "WAIT#";
/// Lines of the file whose rows share one partition: a partition takes about 1,000
/// writes a second on AWS, and splitting for heat cannot help a sort key that only
/// grows, so an import's rows are spread over partitions of this many lines.
pub const LINES_PER_ROW_PARTITION: u64 = 1000;
/// The partition of a row's line: `ORG#<org>#IMPORT#<import>#ROWS#<line / 1000>`.
pub fn row_block_pk(org: &OrgId, import: &ImportId, block: u64) -> String {
    format!("ORG#{org}#IMPORT#{import}#ROWS#{block}")
}
/// The block of lines a row's line is in.
pub fn row_block(line: u64) -> u64 {
    line / LINES_PER_ROW_PARTITION
}
/// Partitions of the pending-row index an organisation's rows are spread over, by a
/// stable hash of their match key: a commit of 50,000 pending rows writes about 200 to
/// each instead of all of them to one. (With 64, the busiest of them took 955 of a
/// 100,000-row import's writes: too near 1,000 when fewer people have more rows each.)
pub const PENDING_SHARDS: u64 = 256;
/// The pending-index partition of a match key: `ORG#<org>#PENDING#<000..255>`.
pub fn pending_shard_pk(org: &OrgId, key: &MatchKey) -> String {
    pending_shard(org, pending_shard_of(&match_key_pk(org, key)))
}
/// One pending-index partition of an organisation.
pub fn pending_shard(org: &OrgId, shard: u64) -> String {
    format!("ORG#{org}#PENDING#{shard:03}")
}
fn pending_shard_of(match_key_pk: &str) -> u64 {
    use std::hash::Hasher;
    // SipHash-1-3 with fixed keys: the same key lands in the same shard in every
    // process and release (std's DefaultHasher promises neither).
    let mut h = siphasher::sip::SipHasher13::new_with_keys(0, 0);
    h.write(match_key_pk.as_bytes());
    h.finish() % PENDING_SHARDS
}
pub fn imports_index_pk(org: &OrgId) -> String {
    format!("ORG#{org}#IMPORTS")
}
/// A Cognito account of the organisation (`sub`): which person it signed up as, and the
/// keys it had proven then. Written once; the only way from an account to rows.
pub fn account_pk(org: &OrgId, user_sub: &PersonId) -> String {
    format!("ORG#{org}#ACCOUNT#{user_sub}")
}
pub const ACCOUNT_SK: &str = "ACCOUNT";
/// A join code, findable without knowing its organisation (the PreSignUp trigger).
pub fn join_code_pk(code: &JoinCode) -> String {
    format!("JOINCODE#{}", code.as_str())
}
pub const JOIN_CODE_SK: &str = "JOINCODE";
/// The same code in its organisation's partition, for listing.
pub fn org_join_code_sk(code: &JoinCode) -> String {
    format!("JOINCODE#{}", code.as_str())
}
pub const ORG_JOIN_CODE_PREFIX: &str = "JOINCODE#";
/// An organisation's column mapping for one set of headers (`ORG#<org>`,
/// `MAPPING#<hash of the headers>`).
pub const MAPPING_PREFIX: &str = "MAPPING#";
/// A self sign-up that passed the PreSignUp check: the organisation its join code named,
/// under Cognito's `userName`, read by PostConfirmation. Any string: the prefix and the
/// fixed sort key keep it apart from every other item.
pub fn join_intent_pk(user_name: &str) -> String {
    format!("SIGNUP#{user_name}")
}
pub const JOIN_INTENT_SK: &str = "JOIN";

/// S3 object keys.
pub mod s3 {
    use super::*;

    pub const UPLOADS: &str = "uploads/";
    pub const COMMITS: &str = "commits/";
    pub const DROPS: &str = "drop/";
    pub const RESUMES: &str = "resume/";
    pub const REPORT_REQUESTS: &str = "report-requests/";
    pub const SIGNUPS: &str = "signups/";

    /// `uploads/<org>/<import>/source.csv`: files sent through the API.
    pub fn upload_key(org: &OrgId, import: &ImportId) -> String {
        format!("{UPLOADS}{org}/{import}/source.csv")
    }
    /// `commits/<org>/<import>.json`: a commit request, picked up by the worker.
    pub fn commit_key(org: &OrgId, import: &ImportId) -> String {
        format!("{COMMITS}{org}/{import}.json")
    }

    /// `resume/<org>/<import>.bin`: where a validation that ran short of time stopped,
    /// picked up by the next invocation of the worker.
    pub fn resume_key(org: &OrgId, import: &ImportId) -> String {
        format!("{RESUMES}{org}/{import}.bin")
    }

    /// `reports/<org>/<import>/errors.csv`: a large error report, handed out by URL.
    pub fn report_key(org: &OrgId, import: &ImportId) -> String {
        format!("reports/{org}/{import}/errors.csv")
    }

    /// `report-requests/<org>/<import>.json`: an error report of a large import to be
    /// written by the worker to [`report_key`].
    pub fn report_request_key(org: &OrgId, import: &ImportId) -> String {
        format!("{REPORT_REQUESTS}{org}/{import}.json")
    }

    /// `signups/<org>/<name>.json`: a sign-up whose pending rows the trigger could not
    /// apply within Cognito's time (or against a failing table), handed to the worker.
    /// `name` is unique per hand-off; the object holds who signed up.
    pub fn signup_key(org: &OrgId, name: &str) -> String {
        format!("{SIGNUPS}{org}/{name}.json")
    }

    /// What an object key means to the worker.
    #[derive(Debug, PartialEq, Eq)]
    pub enum ObjectRole {
        Upload {
            org: OrgId,
            import: ImportId,
        },
        Commit {
            org: OrgId,
            import: ImportId,
        },
        /// A validation to go on with ([`resume_key`]).
        Resume {
            org: OrgId,
            import: ImportId,
        },
        /// An error report to write ([`report_request_key`]).
        Report {
            org: OrgId,
            import: ImportId,
        },
        /// A sign-up to finish applying ([`signup_key`]).
        SignUp {
            org: OrgId,
            name: String,
        },
        /// `drop/<org>/<method>/<any name>.csv`: a file sent by another system.
        Drop {
            org: OrgId,
            method: MatchMethod,
            name: String,
        },
    }

    pub fn classify(key: &str) -> Result<ObjectRole, String> {
        let parts: Vec<&str> = key.split('/').collect();
        let bad = || {
            format!("object key '{key}' is not under uploads/<org>/<import>/, commits/<org>/, resume/<org>/, report-requests/<org>/, signups/<org>/ or drop/<org>/<method>/")
        };
        match parts.as_slice() {
            ["uploads", org, import, _file] => Ok(ObjectRole::Upload {
                org: OrgId::parse(org)?,
                import: ImportId::parse(import)?,
            }),
            ["commits", org, file] => Ok(ObjectRole::Commit {
                org: OrgId::parse(org)?,
                import: ImportId::parse(file.strip_suffix(".json").ok_or_else(bad)?)?,
            }),
            ["resume", org, file] => Ok(ObjectRole::Resume {
                org: OrgId::parse(org)?,
                import: ImportId::parse(file.strip_suffix(".bin").ok_or_else(bad)?)?,
            }),
            ["report-requests", org, file] => Ok(ObjectRole::Report {
                org: OrgId::parse(org)?,
                import: ImportId::parse(file.strip_suffix(".json").ok_or_else(bad)?)?,
            }),
            ["signups", org, file] => {
                let name = file
                    .strip_suffix(".json")
                    .filter(|n| !n.is_empty())
                    .ok_or_else(bad)?;
                Ok(ObjectRole::SignUp {
                    org: OrgId::parse(org)?,
                    name: name.to_string(),
                })
            }
            ["drop", org, method, name @ ..]
                if !name.is_empty() && !name.iter().any(|n| n.is_empty()) =>
            {
                Ok(ObjectRole::Drop {
                    org: OrgId::parse(org)?,
                    method: method.parse()?,
                    name: name.join("/"),
                })
            }
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::s3::*;
    use super::*;

    #[test]
    fn object_keys_say_what_they_are() {
        let org = OrgId::parse("acme").unwrap();
        let imp = ImportId::parse("abc").unwrap();
        assert_eq!(
            classify(&upload_key(&org, &imp)).unwrap(),
            ObjectRole::Upload {
                org: org.clone(),
                import: imp.clone()
            }
        );
        assert_eq!(
            classify(&commit_key(&org, &imp)).unwrap(),
            ObjectRole::Commit {
                org: org.clone(),
                import: imp.clone()
            }
        );
        assert_eq!(
            classify(&resume_key(&org, &imp)).unwrap(),
            ObjectRole::Resume {
                org: org.clone(),
                import: imp.clone()
            }
        );
        assert_eq!(
            classify(&report_request_key(&org, &imp)).unwrap(),
            ObjectRole::Report {
                org: org.clone(),
                import: imp
            }
        );
        assert!(classify("resume/acme/abc.json").is_err());
        assert_eq!(
            classify(&signup_key(&org, "5f0c")).unwrap(),
            ObjectRole::SignUp {
                org: org.clone(),
                name: "5f0c".into()
            }
        );
        assert!(classify("signups/acme/.json").is_err());
        assert!(classify("signups/acme/x.csv").is_err());
        assert_eq!(
            classify("drop/acme/email/nightly/2024.csv").unwrap(),
            ObjectRole::Drop {
                org,
                method: MatchMethod::Email,
                name: "nightly/2024.csv".into()
            }
        );
        assert!(classify("drop/acme/fax/x.csv").is_err());
        assert!(classify("uploads/ac#me/x/source.csv").is_err());
        assert!(classify("other/thing").is_err());
    }
}
