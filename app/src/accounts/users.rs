//! The users behind sessions, read through this process's cache: every
//! signed-in request checks its session against the user's row (auth
//! version, membership), and that row changes far less often than it is read.
//!
//! Triggers (migration `20261206000001`) notify [`USERS_CHANGED_CHANNEL`]
//! with the id of every user whose row or memberships change (a password
//! change, a removal, a renamed organisation), and the change listener
//! drops that user in every process; while it is not listening the cache
//! answers nothing. The process that makes a change also drops the user at
//! once (`server/src/own_writes.rs`), so its next page never shows the old
//! state; the others refuse an ended session once the notice arrives,
//! within milliseconds of the commit.

use super::db::{UserRecord, user_record};
use super::domain::Role;
use crate::notice_cache::NoticeCache;
use sqlx::PgPool;
use std::sync::Arc;
use uuid::Uuid;

/// The channel the triggers notify: a user id, or `*` for all.
pub const USERS_CHANGED_CHANNEL: &str = "gatehouse_users";

/// Users kept before the cache starts again empty.
const MAX_USERS: usize = 50_000;

/// What a session's check needs of its user, in the organisation the
/// session acts in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    /// Email address.
    pub email: String,
    /// Whether the address is confirmed.
    pub email_verified: bool,
    /// Current auth version; sessions from another version are over.
    pub auth_version: i32,
    /// Their role in the session's organisation; `None` if not a member (any more).
    pub role: Option<Role>,
    /// Every organisation they belong to (id and name), by name, for the
    /// portal's organisation switcher.
    pub organizations: Vec<(Uuid, String)>,
}

impl SessionUser {
    /// The user of `record` as seen from `organization_id`.
    pub fn in_organization(record: &UserRecord, organization_id: Option<Uuid>) -> SessionUser {
        SessionUser {
            email: record.email.clone(),
            email_verified: record.email_verified,
            auth_version: record.auth_version,
            role: organization_id.and_then(|wanted| {
                record
                    .memberships
                    .iter()
                    .find(|(id, _, _)| *id == wanted)
                    .map(|(_, _, role)| *role)
            }),
            organizations: record
                .memberships
                .iter()
                .map(|(id, name, _)| (*id, name.clone()))
                .collect(),
        }
    }
}

/// This process's cached users; clones share it.
#[derive(Debug, Clone)]
pub struct UserCache {
    records: NoticeCache<Uuid, Arc<UserRecord>>,
}

impl Default for UserCache {
    fn default() -> Self {
        UserCache {
            records: NoticeCache::new(MAX_USERS),
        }
    }
}

impl UserCache {
    /// The user behind a session acting in `organization_id`, from the
    /// cache or read (and kept); `None` if there is no such user.
    pub async fn session_user(
        &self,
        pool: &PgPool,
        user_id: Uuid,
        organization_id: Option<Uuid>,
    ) -> Result<Option<SessionUser>, sqlx::Error> {
        if let Some(record) = self.records.get(&user_id) {
            return Ok(Some(SessionUser::in_organization(&record, organization_id)));
        }
        let read = self.records.read_started();
        let Some(record) = user_record(pool, user_id).await? else {
            return Ok(None);
        };
        let user = SessionUser::in_organization(&record, organization_id);
        self.records.keep(read, user_id, Arc::new(record));
        Ok(Some(user))
    }

    /// Drops one user (a notice arrived, or this process just changed them).
    pub fn forget(&self, user_id: Uuid) {
        self.records.forget(&user_id);
    }

    /// Applies one notice from [`USERS_CHANGED_CHANNEL`].
    pub fn apply_notice(&self, payload: &str) {
        self.records.apply_notice(payload);
    }

    /// Drops every entry (a change this process made, whose reach it does
    /// not know, such as a console action).
    pub fn forget_all(&self) {
        self.records.forget_all();
    }

    /// One heartbeat of the change listener: entries age by one (see
    /// [`crate::notice_cache::MAX_AGE_TICKS`]).
    pub fn tick(&self) {
        self.records.tick();
    }

    /// Whether notices are being received; the cache answers only then.
    pub fn set_live(&self, live: bool) {
        self.records.set_live(live);
    }

    /// How many users are cached.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// This process's users behind sessions, as the server provided them to the
/// request.
#[cfg(feature = "ssr")]
pub fn user_cache() -> Result<UserCache, crate::error::AppError> {
    crate::context::provided()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_sees_its_role_in_its_own_organisation_only() {
        let (first, second, elsewhere) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let record = UserRecord {
            email: "ada@example.com".into(),
            email_verified: true,
            auth_version: 4,
            memberships: vec![
                (first, "Acme".into(), Role::Owner),
                (second, "Beta".into(), Role::Member),
            ],
        };
        for (organization, role) in [
            (Some(first), Some(Role::Owner)),
            (Some(second), Some(Role::Member)),
            (Some(elsewhere), None),
            (None, None),
        ] {
            let user = SessionUser::in_organization(&record, organization);
            assert_eq!(user.role, role, "{organization:?}");
            assert_eq!(user.auth_version, 4);
            assert_eq!(
                user.organizations,
                vec![(first, "Acme".into()), (second, "Beta".into())]
            );
        }
    }
}
