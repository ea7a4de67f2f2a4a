//! The console sign-in's pure rules: how long an admin session lives, how
//! recovery codes look and read back.

use chrono::{DateTime, TimeDelta, Utc};

/// An admin session ends this long after sign-in, however active.
pub const ADMIN_SESSION_ABSOLUTE: TimeDelta = TimeDelta::hours(8);
/// An admin session ends after this long without a request.
pub const ADMIN_SESSION_IDLE: TimeDelta = TimeDelta::minutes(30);
/// The password step must be followed by the second factor within this.
pub const SECOND_FACTOR_WINDOW: TimeDelta = TimeDelta::minutes(10);
/// How many recovery codes an enrolment makes.
pub const RECOVERY_CODES: usize = 10;

/// How far an admin has signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AdminStage {
    /// The password was right; the second factor has not been given yet
    /// (or, with no second factor enrolled, enrolment is under way).
    PasswordOnly,
    /// Password and second factor: the console is open.
    Full,
}

/// The times an admin session is judged by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminSessionTimes {
    /// When the password was accepted.
    pub signed_in_at: DateTime<Utc>,
    /// The last request.
    pub last_seen_at: DateTime<Utc>,
}

impl AdminSessionTimes {
    /// Whether a session at `stage` is still alive at `now`.
    pub fn is_live(&self, stage: AdminStage, now: DateTime<Utc>) -> bool {
        if now < self.signed_in_at {
            // A clock that went backwards is not trusted to extend anything.
            return false;
        }
        match stage {
            AdminStage::PasswordOnly => now - self.signed_in_at < SECOND_FACTOR_WINDOW,
            AdminStage::Full => {
                now - self.signed_in_at < ADMIN_SESSION_ABSOLUTE
                    && now - self.last_seen_at < ADMIN_SESSION_IDLE
            }
        }
    }
}

/// A recovery code as shown: `xxxxx-xxxxx` from 10 random characters of an
/// alphabet without look-alikes.
pub fn format_recovery_code(random: &[u8; 10]) -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let chars: String = random
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// A code as typed, made comparable: lower case, spaces and dashes dropped.
pub fn normalise_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether `typed` has the shape of a TOTP code (6 digits, spaces allowed).
pub fn looks_like_totp(typed: &str) -> bool {
    let code = normalise_code(typed);
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + TimeDelta::minutes(minutes)
    }

    #[test]
    fn a_full_admin_session_ends_after_idling_or_at_its_absolute_limit() {
        let times = |signed_in, seen| AdminSessionTimes {
            signed_in_at: at(signed_in),
            last_seen_at: at(seen),
        };
        let cases = [
            (times(0, 0), 29, true),
            (times(0, 0), 30, false),
            (times(0, 470), 479, true),
            (times(0, 470), 480, false),
            (times(10, 10), 5, false),
        ];
        for (session, now, live) in cases {
            assert_eq!(
                session.is_live(AdminStage::Full, at(now)),
                live,
                "{session:?} at {now}"
            );
        }
        assert!(times(0, 0).is_live(AdminStage::PasswordOnly, at(9)));
        assert!(!times(0, 0).is_live(AdminStage::PasswordOnly, at(10)));
    }

    #[test]
    fn recovery_codes_read_back_however_they_are_typed() {
        let code = format_recovery_code(&[0, 1, 2, 3, 4, 250, 251, 252, 253, 255]);
        assert_eq!(code.len(), 11);
        assert_eq!(&code[5..6], "-");
        assert!(!code.contains(['l', '1', 'o', '0', 'i']));
        assert_eq!(
            normalise_code(&code.to_uppercase().replace('-', " ")),
            normalise_code(&code)
        );
        assert!(looks_like_totp("123 456"));
        assert!(!looks_like_totp("12345"));
        assert!(!looks_like_totp(&code));
    }
}
