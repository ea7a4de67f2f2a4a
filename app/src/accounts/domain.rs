//! Accounts, organisations and teams: the rules, with no I/O.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a piece of account input was refused; each message is for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// Not an email address.
    #[error("enter an email address such as name@company.com")]
    InvalidEmail,
    /// Shorter than the minimum.
    #[error("use at least {MIN_PASSWORD_CHARS} characters")]
    PasswordTooShort,
    /// Longer than the maximum.
    #[error("use at most {MAX_PASSWORD_CHARS} characters")]
    PasswordTooLong,
    /// On the list of passwords attackers try first.
    #[error("this password is too common; choose one that is harder to guess")]
    PasswordTooCommon,
    /// Empty or too long.
    #[error("enter a company name of 1 to {MAX_COMPANY_NAME_CHARS} characters")]
    InvalidCompanyName,
    /// Unknown role name.
    #[error("choose a role: admin or member")]
    InvalidRole,
}

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The longest password accepted (argon2 cost grows with input).
pub const MAX_PASSWORD_CHARS: usize = 128;
/// The longest organisation name.
pub const MAX_COMPANY_NAME_CHARS: usize = 100;

/// A normalised email address: trimmed and lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Parses what a user typed.
    pub fn parse(raw: &str) -> Result<Self, AccountError> {
        let email = raw.trim().to_lowercase();
        let (local, domain) = email.split_once('@').ok_or(AccountError::InvalidEmail)?;
        let valid = email.len() <= 254
            && (1..=64).contains(&local.len())
            && !domain.contains('@')
            && domain.len() >= 3
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !local.starts_with('.')
            && !local.ends_with('.')
            && email.chars().all(|c| !c.is_whitespace() && !c.is_control())
            && !email.contains(['<', '>', '(', ')', '[', ']', ',', ';', ':', '\\', '"']);
        if valid {
            Ok(EmailAddress(email))
        } else {
            Err(AccountError::InvalidEmail)
        }
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Passwords of 12 characters or more that still top breach lists.
const COMMON_PASSWORDS: &[&str] = &[
    "123456789012",
    "1234567890123",
    "12345678901234",
    "123456789012345",
    "1234567890qwerty",
    "qwertyuiopasdfgh",
    "qwertyuiop123",
    "qwerty123456",
    "1q2w3e4r5t6y",
    "1qaz2wsx3edc",
    "password1234",
    "password12345",
    "password123456",
    "passwordpassword",
    "iloveyou1234",
    "abcdefghijkl",
    "abc123456789",
    "aaaaaaaaaaaa",
    "111111111111",
    "000000000000",
    "letmein12345",
    "welcome12345",
    "administrator",
    "changeme1234",
    "football1234",
    "baseball1234",
    "superman1234",
    "trustno11234",
    "monkey123456",
    "dragon123456",
    "sunshine1234",
    "princess1234",
    "starwars1234",
    "whatever1234",
    "computer1234",
    "p@ssw0rd1234",
    "passw0rd1234",
    "correcthorsebatterystaple",
    "qazwsxedcrfv",
    "zaq12wsxcde3",
];

/// A password that meets the policy. Never displayed or logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Checks the policy: 12–128 characters, not a well-known password.
    pub fn parse(raw: &str) -> Result<Self, AccountError> {
        let chars = raw.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(AccountError::PasswordTooShort);
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(AccountError::PasswordTooLong);
        }
        let lowered = raw.to_lowercase();
        let single_character = lowered.chars().all(|c| lowered.starts_with(c));
        if single_character || COMMON_PASSWORDS.contains(&lowered.as_str()) {
            return Err(AccountError::PasswordTooCommon);
        }
        Ok(Password(raw.to_owned()))
    }

    /// The secret, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// An organisation's display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanyName(String);

impl CompanyName {
    /// Trims and checks length and characters.
    pub fn parse(raw: &str) -> Result<Self, AccountError> {
        let name = raw.trim();
        let length = name.chars().count();
        if length == 0 || length > MAX_COMPANY_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(AccountError::InvalidCompanyName);
        }
        Ok(CompanyName(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A member's role in an organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Uses the product.
    Member,
    /// Manages the team and billing.
    Admin,
    /// Everything an admin can, plus ownership; at least one per organisation.
    Owner,
}

impl Role {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    /// Reads a stored or submitted role name.
    pub fn parse(raw: &str) -> Result<Self, AccountError> {
        match raw.trim() {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            _ => Err(AccountError::InvalidRole),
        }
    }

    /// Whether this role may invite, remove and re-role members.
    pub fn manages_team(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }

    /// Whether this role may spend the organisation's money: check out, pay,
    /// change or cancel the plan, change the card.
    pub fn manages_billing(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

/// Why a team change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TeamError {
    /// Plain members cannot change the team.
    #[error("only owners and admins can manage the team")]
    NotAllowed,
    /// Only owners touch owners and ownership.
    #[error("only an owner can change an owner or hand over ownership")]
    OwnersOnly,
    /// The organisation must keep an owner.
    #[error("an organisation needs at least one owner; make someone else owner first")]
    LastOwner,
}

/// Who may change `target`'s role from `current` to `new`. Owners may do
/// anything but demote the last owner; admins may move members and admins
/// between member and admin.
pub fn check_role_change(actor: Role, current: Role, new: Role, owners: usize) -> Result<(), TeamError> {
    if !actor.manages_team() {
        return Err(TeamError::NotAllowed);
    }
    if (current == Role::Owner || new == Role::Owner) && actor != Role::Owner {
        return Err(TeamError::OwnersOnly);
    }
    if current == Role::Owner && new != Role::Owner && owners <= 1 {
        return Err(TeamError::LastOwner);
    }
    Ok(())
}

/// Who may remove a member with role `target` (not themselves: that is leaving).
pub fn check_removal(actor: Role, target: Role, owners: usize) -> Result<(), TeamError> {
    if !actor.manages_team() {
        return Err(TeamError::NotAllowed);
    }
    if target == Role::Owner && actor != Role::Owner {
        return Err(TeamError::OwnersOnly);
    }
    if target == Role::Owner && owners <= 1 {
        return Err(TeamError::LastOwner);
    }
    Ok(())
}

/// Whether a member with `role` may leave.
pub fn check_leave(role: Role, owners: usize) -> Result<(), TeamError> {
    if role == Role::Owner && owners <= 1 {
        Err(TeamError::LastOwner)
    } else {
        Ok(())
    }
}

/// Who may invite, and with which role (owners are made by transfer, not invitation).
pub fn check_invite(actor: Role, invited_role: Role) -> Result<(), TeamError> {
    if !actor.manages_team() {
        return Err(TeamError::NotAllowed);
    }
    if invited_role == Role::Owner {
        return Err(TeamError::OwnersOnly);
    }
    Ok(())
}

/// Whole days left in a trial ending at `trial_end_unix`, rounding a part day
/// up (a trial ending in 3 hours has 1 day left); 0 once it has ended.
pub fn trial_days_left(now_unix: i64, trial_end_unix: i64) -> i64 {
    let remaining = trial_end_unix - now_unix;
    if remaining <= 0 {
        0
    } else {
        (remaining + 86_399) / 86_400
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use claims::{assert_err, assert_ok};

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        let email = EmailAddress::parse("  Ada.Lovelace@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "ada.lovelace@example.com");
    }

    #[test]
    fn malformed_emails_are_refused() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long_total = format!("a@{}.com", "b".repeat(250));
        let cases = [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@.com",
            "a@example.",
            "a@@example.com",
            "a b@example.com",
            "a@exa mple.com",
            "<a@example.com>",
            "a@example..com",
            ".a@example.com",
            "a\n@example.com",
            long_local.as_str(),
            long_total.as_str(),
        ];
        for raw in cases {
            assert_err!(EmailAddress::parse(raw), "{raw:?} should be refused");
        }
    }

    #[test]
    fn passwords_follow_the_length_and_common_list_policy() {
        assert_eq!(
            Password::parse("short").unwrap_err(),
            AccountError::PasswordTooShort
        );
        assert_eq!(
            Password::parse(&"x".repeat(129)).unwrap_err(),
            AccountError::PasswordTooLong
        );
        assert_eq!(
            Password::parse("Password1234").unwrap_err(),
            AccountError::PasswordTooCommon
        );
        assert_eq!(
            Password::parse("zzzzzzzzzzzzzz").unwrap_err(),
            AccountError::PasswordTooCommon
        );
        assert_ok!(Password::parse("correct horse battery"));
        assert_ok!(Password::parse(&"ab".repeat(64)));
        // Length counts characters, not bytes.
        assert_ok!(Password::parse("ünïcödé-pässwörd"));
        assert_eq!(
            Password::parse("ééééééééééé").unwrap_err(),
            AccountError::PasswordTooShort
        );
    }

    #[test]
    fn passwords_never_show_in_debug_output() {
        let password = Password::parse("correct horse battery").unwrap();
        assert_eq!(format!("{password:?}"), "Password(***)");
    }

    #[test]
    fn company_names_are_trimmed_and_bounded() {
        assert_eq!(
            CompanyName::parse("  Acme Metals ").unwrap().as_str(),
            "Acme Metals"
        );
        for bad in ["", "   ", &"x".repeat(101), "Acme\u{0}"] {
            assert_err!(CompanyName::parse(bad), "{bad:?}");
        }
    }

    #[test]
    fn only_owners_touch_owners_and_the_last_owner_stays() {
        use Role::*;
        assert_eq!(
            check_role_change(Member, Member, Admin, 1),
            Err(TeamError::NotAllowed)
        );
        assert_eq!(check_role_change(Admin, Member, Admin, 1), Ok(()));
        assert_eq!(check_role_change(Admin, Admin, Member, 1), Ok(()));
        assert_eq!(
            check_role_change(Admin, Owner, Member, 2),
            Err(TeamError::OwnersOnly)
        );
        assert_eq!(
            check_role_change(Admin, Member, Owner, 1),
            Err(TeamError::OwnersOnly)
        );
        assert_eq!(
            check_role_change(Owner, Owner, Admin, 1),
            Err(TeamError::LastOwner)
        );
        assert_eq!(check_role_change(Owner, Owner, Admin, 2), Ok(()));
        assert_eq!(check_removal(Admin, Owner, 2), Err(TeamError::OwnersOnly));
        assert_eq!(check_removal(Owner, Owner, 1), Err(TeamError::LastOwner));
        assert_eq!(check_removal(Member, Member, 1), Err(TeamError::NotAllowed));
        assert_eq!(check_removal(Admin, Member, 1), Ok(()));
        assert_eq!(check_leave(Owner, 1), Err(TeamError::LastOwner));
        assert_eq!(check_leave(Owner, 2), Ok(()));
        assert_eq!(check_leave(Member, 0), Ok(()));
        assert_eq!(check_invite(Member, Member), Err(TeamError::NotAllowed));
        assert_eq!(check_invite(Admin, Owner), Err(TeamError::OwnersOnly));
        assert_eq!(check_invite(Admin, Admin), Ok(()));
    }

    #[test]
    fn trial_days_left_rounds_part_days_up() {
        let day = 86_400;
        assert_eq!(trial_days_left(0, 14 * day), 14);
        assert_eq!(trial_days_left(1, 14 * day), 14);
        assert_eq!(trial_days_left(13 * day + 1, 14 * day), 1);
        assert_eq!(trial_days_left(14 * day, 14 * day), 0);
        assert_eq!(trial_days_left(20 * day, 14 * day), 0);
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in [Role::Owner, Role::Admin, Role::Member] {
            assert_eq!(Role::parse(role.as_str()), Ok(role));
        }
        assert_err!(Role::parse("superuser"));
    }
}
