//! A confirmed sign-up: link the new account to its roster entry, make the person
//! active under each of their match keys, then apply every pending row waiting for
//! them, across imports. Safe to run twice: applied rows are not pending any more.
//!
//! Cognito waits 5 s for the trigger and does not retry a function error, so the
//! trigger runs [`sign_up_within`]: when the apply does not finish within its budget
//! (a person with thousands of pending rows) or the table fails, the sign-up is handed
//! to the worker as an S3 object ([`keys::s3::signup_key`]), where it is run again
//! ([`apply_handed_on`]) with Lambda's retries behind it. Rows a trigger left pending
//! without handing them on (it failed outright, or was stopped) are applied at the
//! person's next sign-in ([`catch_up_on_sign_in`]), which is also the sign-up of a
//! person an admin invited: Cognito calls PostConfirmation only for self sign-ups.

use super::PipelineError;
use crate::domain::{
    match_person, Email, MatchKey, MatchMethod, OrgId, PersonId, PersonMatch, PersonName,
    PhoneNumber,
};
use crate::keys;
use crate::store::{now_rfc3339, AccountRecord, GroupStatus, PersonProfile, Store};

/// Who signed up, with only the keys that may claim rows: an email or phone the account
/// has verified, the admin-set employee ID, and a name only when an admin gave it (an
/// invitation). The trigger leaves out everything else the user could write themselves.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SignUp {
    pub user_sub: String,
    /// Cognito's `userName` (the join intent of a self sign-up is kept under it).
    #[serde(default)]
    pub user_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub name: Option<String>,
    pub employee_id: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SignUpReport {
    pub person_id: String,
    pub linked_to_roster: bool,
    pub applied: usize,
    /// Rows already applied or deleted by someone else meanwhile.
    pub no_longer_pending: usize,
    /// Name-matched rows left pending because the name is now shared.
    pub ambiguous: usize,
}

fn keys_of(profile: &PersonProfile) -> Vec<MatchKey> {
    let mut keys = Vec::new();
    if let Some(k) = profile
        .employee_id
        .as_deref()
        .and_then(|e| MatchKey::employee_id(e).ok())
    {
        keys.push(k);
    }
    if let Some(e) = profile.email.as_deref().and_then(|e| Email::parse(e).ok()) {
        keys.push(MatchKey::email(&e));
    }
    if let Some(p) = profile
        .phone
        .as_deref()
        .and_then(|p| PhoneNumber::parse(p, None).ok())
    {
        keys.push(MatchKey::phone(&p));
    }
    if let Some(n) = profile
        .name
        .as_deref()
        .and_then(|n| PersonName::parse(n).ok())
    {
        keys.push(MatchKey::name(&n));
    }
    keys
}

/// Finds the roster entry this account belongs to: by employee ID, then email, then
/// phone (never by name: people share names). A key shared by several roster entries
/// links nothing. The keys are read in one request.
async fn find_roster_entry(
    store: &Store,
    org: &OrgId,
    signup: &SignUp,
) -> Result<Option<PersonId>, PipelineError> {
    let probe = PersonProfile {
        employee_id: signup.employee_id.clone(),
        email: signup.email.clone(),
        phone: signup.phone.clone(),
        ..Default::default()
    };
    let keys = keys_of(&probe);
    let people = store.people_with_keys(org, keys.clone()).await?;
    for key in &keys {
        match match_person(people.get(key).map(Vec::as_slice).unwrap_or(&[])) {
            PersonMatch::Roster(pid) | PersonMatch::SignedUp(pid) => return Ok(Some(pid)),
            PersonMatch::NotFound | PersonMatch::Ambiguous(_) => {}
        }
    }
    Ok(None)
}

fn account_sub(signup: &SignUp) -> Result<PersonId, PipelineError> {
    PersonId::parse(&signup.user_sub).map_err(|m| {
        super::invalid(
            "INVALID_USER",
            format!("the user's sub cannot be used as a person id: {m}"),
        )
    })
}

/// A person's profile as read, `None` when they have none yet.
type ProfileRead = (PersonId, Option<PersonProfile>);

/// The account's record: the one written at its first sign-up, or a new one with the
/// person it links to and the keys it has now. Once written it never changes, so what
/// the account proves or writes later reaches nothing. Also the profile of the person
/// it was about to link, when that was read on the way (read at the same time as other
/// requests, to save the sign-up a round trip).
async fn account_of(
    store: &Store,
    org: &OrgId,
    signup: &SignUp,
) -> Result<(AccountRecord, bool, Option<ProfileRead>), PipelineError> {
    let sub = account_sub(signup)?;
    // The roster is looked up while the account is read: at a first sign-up both are
    // needed; when the account exists the look-up is one read too many.
    let (existing, roster) = futures::future::try_join(
        async { Ok::<_, PipelineError>(store.get_account(org, &sub).await?) },
        find_roster_entry(store, org, signup),
    )
    .await?;
    if let Some(account) = existing {
        return Ok((account, false, None));
    }
    let person_id = roster.clone().unwrap_or_else(|| sub.clone());
    let linked = roster.is_some();
    let account = AccountRecord {
        user_sub: signup.user_sub.clone(),
        person_id: person_id.to_string(),
        email: signup
            .email
            .as_deref()
            .and_then(|e| Email::parse(e).ok())
            .map(|e| e.as_str().to_string()),
        phone: signup.phone.clone(),
        employee_id: signup.employee_id.clone(),
        name: signup.name.clone(),
        created_at: now_rfc3339(),
    };
    if linked {
        // A person another account signed up as is never this one's: no record is made,
        // so the account stays unlinked and claims nothing.
        let profile = store.get_person(org, &person_id).await?;
        if let Some(other) = profile
            .as_ref()
            .and_then(|p| p.user_sub.as_deref())
            .filter(|other| *other != signup.user_sub)
        {
            return Err(super::conflict(
                "ACCOUNT_CONFLICT",
                format!("person {person_id} signed up with another account ({other}); this account ({}) is not linked and claims no rows", signup.user_sub),
            ));
        }
        let account = store.put_account_once(org, &account).await?;
        return Ok((account, true, Some((person_id, profile))));
    }
    // The account's own person: its profile is read while the account is written.
    let (account, profile) = futures::future::try_join(
        store.put_account_once(org, &account),
        store.get_person(org, &person_id),
    )
    .await?;
    Ok((account, false, Some((person_id, profile))))
}

pub async fn apply_sign_up(
    store: &Store,
    org: &OrgId,
    signup: &SignUp,
) -> Result<SignUpReport, PipelineError> {
    let (account, linked_now, read) = account_of(store, org, signup).await?;
    let person_id = PersonId::parse(&account.person_id)
        .map_err(|m| PipelineError::Store(crate::store::StoreError::Corrupt(m)))?;
    // The profile read on the way, unless the account stored is another run's, linked
    // to another person.
    let profile = match read {
        Some((read_for, profile)) if read_for == person_id => profile,
        _ => store.get_person(org, &person_id).await?,
    };
    let mut profile = profile.unwrap_or_else(|| PersonProfile {
        person_id: person_id.to_string(),
        created_at: now_rfc3339(),
        ..Default::default()
    });
    let already_linked = || {
        super::conflict(
            "ACCOUNT_CONFLICT",
            format!("person {person_id} signed up with another account; this account ({}) is not linked and claims no rows", account.user_sub),
        )
    };
    // Only signed-up people get completions: at their first sign-up a person has none.
    let completions_may_exist = profile.user_sub.is_some();
    match profile.user_sub.as_deref() {
        Some(other) if other != account.user_sub => return Err(already_linked()),
        Some(_) => {} // this account, again (a retry, a hand-on, a sign-in): the keys stay
        None => {
            profile.signed_up = true;
            profile.user_sub = Some(account.user_sub.clone());
            profile.signed_up_at.get_or_insert_with(now_rfc3339);
            // The roster's values stay; the account fills what the roster did not know.
            profile.email = profile.email.take().or_else(|| account.email.clone());
            profile.phone = profile.phone.take().or_else(|| account.phone.clone());
            profile.name = profile.name.take().or_else(|| account.name.clone());
            profile.employee_id = profile
                .employee_id
                .take()
                .or_else(|| account.employee_id.clone());
        }
    }
    let keys = keys_of(&profile);
    match store.put_signed_up_person(org, &profile, &keys).await {
        Err(crate::store::StoreError::ConditionFailed) => return Err(already_linked()),
        other => other?,
    }
    // After the person is marked signed up, before their pending rows are looked for: a
    // commit writing rows for them meanwhile sees the count move and looks again.
    store.count_sign_up(org).await?;

    let linked_to_roster = linked_now || person_id.as_str() != account.user_sub;
    let mut report = SignUpReport {
        person_id: person_id.to_string(),
        linked_to_roster,
        ..Default::default()
    };
    let (mut waiting, mut groups) = (Vec::new(), Vec::new());
    // Every key's waiting groups (and rows committed before groups) at once.
    let found =
        futures::future::try_join_all(keys.iter().map(|key| store.waiting_for_key(org, key)))
            .await?;
    for (key, (rows, key_groups)) in keys.iter().zip(found) {
        let count = rows.len()
            + key_groups
                .iter()
                .filter(|g| g.status == GroupStatus::Pending)
                .map(|g| g.pending_rows().count())
                .sum::<usize>();
        if key.method() == MatchMethod::Name
            && count > 0
            && store.people_with_key(org, key).await?.len() > 1
        {
            report.ambiguous += count;
            tracing::warn!(org = %org, person = %person_id, rows = count, "name-matched pending rows left pending: the name is shared");
            continue;
        }
        waiting.extend(rows);
        groups.extend(key_groups);
    }
    // Cognito gives the trigger 5 seconds: the groups are claimed and marked applied in
    // small requests and their completions batched; older rows go in a few large
    // transactions; both at once.
    let ((applied, gone), (group_rows, groups_gone)) = futures::future::try_join(
        store.apply_pending_rows(org, &person_id, &account.user_sub, &waiting),
        store.apply_groups(
            org,
            &person_id,
            Some(&account.user_sub),
            groups,
            completions_may_exist,
        ),
    )
    .await?;
    report.applied = applied + group_rows;
    report.no_longer_pending = gone + groups_gone;
    tracing::info!(org = %org, person = %person_id, applied = report.applied, no_longer_pending = report.no_longer_pending, "sign-up applied");
    Ok(report)
}

/// What [`sign_up_within`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignUpResult {
    Applied(SignUpReport),
    /// Not finished here: handed to the worker under `key`, for `reason`.
    HandedOn {
        key: String,
        reason: String,
    },
}

/// A sign-up handed to the worker: who signed up, and why it was handed on.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct HandedOn {
    signup: SignUp,
    reason: String,
    handed_on_at: String,
}

/// Applies a sign-up within `budget`; when that runs out, or the table fails, hands the
/// whole sign-up to the worker (running it again there is safe: see the module doc).
/// Fails only when the hand-off itself cannot be written (the caller then fails, and
/// Cognito or the user can try again).
pub async fn sign_up_within(
    store: &Store,
    org: &OrgId,
    signup: &SignUp,
    budget: std::time::Duration,
) -> Result<SignUpResult, PipelineError> {
    // Boxed: the future is deep enough to overflow the compiler's layout limit.
    let reason =
        match tokio::time::timeout(budget, Box::pin(apply_sign_up(store, org, signup))).await {
            Ok(Ok(report)) => return Ok(SignUpResult::Applied(report)),
            Ok(Err(PipelineError::Store(e))) => format!("the table failed: {e}"),
            Ok(Err(other)) => return Err(other),
            Err(_) => format!("not finished within {} ms", budget.as_millis()),
        };
    let key = keys::s3::signup_key(org, &uuid::Uuid::new_v4().to_string());
    let body = HandedOn {
        signup: signup.clone(),
        reason: reason.clone(),
        handed_on_at: now_rfc3339(),
    };
    store
        .put_object(
            &key,
            "application/json",
            serde_json::to_vec(&body).unwrap_or_default(),
        )
        .await?;
    tracing::warn!(org = %org, key = %key, reason = %reason, "sign-up handed to the worker");
    Ok(SignUpResult::HandedOn { key, reason })
}

/// The worker's part: runs a handed-on sign-up ([`sign_up_within`]) to its end.
pub async fn apply_handed_on(
    store: &Store,
    org: &OrgId,
    key: &str,
) -> Result<SignUpReport, PipelineError> {
    let bytes = store.read_object(key).await?;
    let handed: HandedOn = serde_json::from_slice(&bytes).map_err(|e| {
        super::invalid(
            "INVALID_SIGNUP_OBJECT",
            format!("{key} is not a handed-on sign-up: {e}"),
        )
    })?;
    let report = Box::pin(apply_sign_up(store, org, &handed.signup)).await?;
    tracing::info!(org = %org, key = %key, reason = %handed.reason, applied = report.applied, "handed-on sign-up applied");
    Ok(report)
}

/// At a sign-in, runs the sign-up as [`sign_up_within`] does when
/// - the account has not signed up yet: a person invited by an admin (AdminCreateUser)
///   signs in for the first time. Cognito calls PostConfirmation only for accounts that
///   signed themselves up, so for invited people this sign-in is their sign-up; or
/// - its sign-up stopped before the person was marked signed up; or
/// - rows still wait under the keys the person had when they signed up (a sign-up whose
///   trigger failed, or was stopped, before they were applied).
///
/// Only the keys stored at sign-up count, never the token's attributes: a user who
/// changes their phone number or name afterwards claims nothing with it. None when
/// nothing is to be done. Looking costs two reads (account, profile) and one query of
/// the pending index per key, and writes nothing. Rows waiting only under a name that
/// several people share stay (they are an error to fix, not this person's).
pub async fn catch_up_on_sign_in(
    store: &Store,
    org: &OrgId,
    signup: &SignUp,
    budget: std::time::Duration,
) -> Result<Option<SignUpResult>, PipelineError> {
    let Some(account) = store.get_account(org, &account_sub(signup)?).await? else {
        // A self sign-up's name is its own writing: only an invitation's name is vouched for.
        let mut signup = signup.clone();
        if signup.name.is_some()
            && !signup.user_name.is_empty()
            && store.join_intent(&signup.user_name).await?.is_some()
        {
            signup.name = None;
        }
        tracing::info!(org = %org, "first sign-in of an account not signed up yet (invited by an admin): signing it up");
        return sign_up_within(store, org, &signup, budget).await.map(Some);
    };
    let pid = PersonId::parse(&account.person_id)
        .map_err(|m| PipelineError::Store(crate::store::StoreError::Corrupt(m)))?;
    let profile = store.get_person(org, &pid).await?.unwrap_or_default();
    if profile.user_sub.is_none() {
        tracing::warn!(org = %org, "a sign-up stopped before the person was marked signed up; finishing it");
        return sign_up_within(store, org, signup, budget).await.map(Some);
    }
    if profile.user_sub.as_deref() != Some(account.user_sub.as_str()) {
        return Ok(None); // another account's person: logged when this account signed up
    }
    let keys = keys_of(&profile);
    let waiting =
        futures::future::try_join_all(keys.iter().map(|key| store.has_pending_rows(org, key)))
            .await?;
    let mut found = false;
    for (key, waits) in keys.iter().zip(waiting) {
        if !waits {
            continue;
        }
        if key.method() == MatchMethod::Name && store.people_with_key(org, key).await?.len() > 1 {
            continue;
        }
        found = true;
    }
    if !found {
        return Ok(None);
    }
    tracing::warn!(org = %org, "rows still pending at sign-in (a sign-up had not finished); applying them");
    sign_up_within(store, org, signup, budget).await.map(Some)
}
