//! The generic cell rate algorithm (GCRA): a burst of `requests`, refilled
//! evenly over `per_seconds`. Pure; the state is one timestamp per key, kept
//! in Postgres so that every server process shares it.

/// A limit: at most `requests` in any `per_seconds` window, as a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Burst size.
    pub requests: u32,
    /// Window in seconds.
    pub per_seconds: u32,
}

/// Sign-in attempts per account from one client address: 5 per 15 minutes.
/// Keyed by both, so a stranger's guesses from elsewhere never lock the
/// owner out.
pub const LOGIN_PER_ACCOUNT_AND_IP: Rate = Rate {
    requests: 5,
    per_seconds: 900,
};
/// Failed sign-ins per account from all addresses: 50 per hour. Only a
/// guessing campaign from many addresses reaches it; then even the right
/// password waits, and the emailed reset link (which clears it) is the way
/// through.
pub const LOGIN_FAILURES_PER_ACCOUNT: Rate = Rate {
    requests: 50,
    per_seconds: 3600,
};
/// Uses of an emailed token that sets a password (reset links, invitations)
/// per client address: 20 per 15 minutes, as sign-in.
pub const PASSWORD_TOKEN_PER_IP: Rate = Rate {
    requests: 20,
    per_seconds: 900,
};
/// Password changes per signed-in user: 5 per 15 minutes.
pub const PASSWORD_CHANGE_PER_USER: Rate = Rate {
    requests: 5,
    per_seconds: 900,
};
/// Sign-in attempts per client address: 20 per 15 minutes.
pub const LOGIN_PER_IP: Rate = Rate {
    requests: 20,
    per_seconds: 900,
};
/// Password-reset requests per account: 3 per hour.
pub const RESET_PER_ACCOUNT: Rate = Rate {
    requests: 3,
    per_seconds: 3600,
};
/// Password-reset requests per client address: 10 per hour.
pub const RESET_PER_IP: Rate = Rate {
    requests: 10,
    per_seconds: 3600,
};
/// Verification emails per user: 3 per hour.
pub const RESEND_VERIFICATION: Rate = Rate {
    requests: 3,
    per_seconds: 3600,
};
/// Sign-ups per client address: 10 per hour.
pub const SIGNUP_PER_IP: Rate = Rate {
    requests: 10,
    per_seconds: 3600,
};

/// The outcome of one request against a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Allowed; store this theoretical arrival time (microseconds).
    Allow {
        /// The key's new state.
        new_tat_us: i64,
    },
    /// Refused; the earliest retry is this many seconds away (at least 1).
    Deny {
        /// Seconds to wait.
        retry_after_secs: u64,
    },
}

/// Microseconds in a second: the state is kept to the microsecond, so a
/// key may be allowed far more than a thousand requests a second.
const MICROS: i64 = 1_000_000;

/// Microseconds between two requests at `rate`'s steady pace; at least 1.
pub fn emission_interval_us(rate: Rate) -> i64 {
    let requests = i64::from(rate.requests.max(1));
    (i64::from(rate.per_seconds.max(1)) * MICROS / requests).max(1)
}

/// Whole seconds to wait for `wait_us` microseconds to pass; at least 1.
fn retry_secs(wait_us: i64) -> u64 {
    ((wait_us + MICROS - 1) / MICROS).max(1) as u64
}

/// Decides one request at `now_us` (microseconds) given the key's stored state.
pub fn decide(now_us: i64, stored_tat_us: Option<i64>, rate: Rate) -> Decision {
    let requests = i64::from(rate.requests.max(1));
    let interval_us = emission_interval_us(rate);
    let tat = stored_tat_us.unwrap_or(now_us).max(now_us);
    let new_tat = tat + interval_us;
    let allowed_from = new_tat - interval_us * requests;
    if allowed_from > now_us {
        Decision::Deny {
            retry_after_secs: retry_secs(allowed_from - now_us),
        }
    } else {
        Decision::Allow { new_tat_us: new_tat }
    }
}

/// The outcome of asking for up to `wanted` requests at once (a process's
/// lease of its next few requests, see [`super::lease`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseDecision {
    /// `granted` requests (1 to `wanted`) are allowed; store this state.
    Grant {
        /// How many.
        granted: u32,
        /// The key's new state.
        new_tat_us: i64,
    },
    /// Not even one is allowed; the earliest retry is this many seconds away.
    Deny {
        /// Seconds to wait.
        retry_after_secs: u64,
    },
}

/// Decides up to `wanted` requests at `now_us` at once: exactly as many as
/// `wanted` calls of [`decide`] at that instant would allow, leaving the
/// same state, so a lease never lets more through than one-by-one counting.
pub fn decide_lease(now_us: i64, stored_tat_us: Option<i64>, rate: Rate, wanted: u32) -> LeaseDecision {
    let requests = i64::from(rate.requests.max(1));
    let interval_us = emission_interval_us(rate);
    let tat = stored_tat_us.unwrap_or(now_us).max(now_us);
    // The k-th request is allowed while tat + k × interval − interval × requests ≤ now.
    let room = (now_us + interval_us * requests - tat).div_euclid(interval_us);
    let granted = room.min(i64::from(wanted.max(1)));
    if granted >= 1 {
        LeaseDecision::Grant {
            granted: granted as u32,
            new_tat_us: tat + granted * interval_us,
        }
    } else {
        match decide(now_us, stored_tat_us, rate) {
            Decision::Deny { retry_after_secs } => LeaseDecision::Deny { retry_after_secs },
            // Unreachable: no room means the next single request is refused too.
            Decision::Allow { .. } => LeaseDecision::Deny { retry_after_secs: 1 },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1000;

    /// Decides requests at these milliseconds in turn.
    fn run(rate: Rate, times_ms: &[i64]) -> Vec<bool> {
        let mut tat = None;
        times_ms
            .iter()
            .map(|&now| match decide(now * MS, tat, rate) {
                Decision::Allow { new_tat_us } => {
                    tat = Some(new_tat_us);
                    true
                }
                Decision::Deny { .. } => false,
            })
            .collect()
    }

    #[test]
    fn a_burst_up_to_the_limit_passes_and_the_next_is_refused() {
        let rate = Rate {
            requests: 5,
            per_seconds: 900,
        };
        assert_eq!(
            run(rate, &[0, 1, 2, 3, 4, 5]),
            [true, true, true, true, true, false]
        );
    }

    #[test]
    fn capacity_returns_evenly_over_the_window() {
        let rate = Rate {
            requests: 5,
            per_seconds: 900,
        };
        // After a full burst one request frees up every 180 s.
        let outcome = run(rate, &[0, 0, 0, 0, 0, 179_000, 180_000, 180_001, 360_000]);
        assert_eq!(outcome, [true, true, true, true, true, false, true, false, true]);
    }

    #[test]
    fn a_refusal_says_how_long_to_wait() {
        let rate = Rate {
            requests: 1,
            per_seconds: 60,
        };
        let Decision::Allow { new_tat_us } = decide(0, None, rate) else {
            panic!()
        };
        assert_eq!(
            decide(10_000 * MS, Some(new_tat_us), rate),
            Decision::Deny { retry_after_secs: 50 }
        );
        assert_eq!(
            decide(60_000 * MS - 1, Some(new_tat_us), rate),
            Decision::Deny { retry_after_secs: 1 }
        );
        assert!(matches!(
            decide(60_000 * MS, Some(new_tat_us), rate),
            Decision::Allow { .. }
        ));
    }

    #[test]
    fn a_stale_state_counts_as_a_full_bucket() {
        let rate = Rate {
            requests: 3,
            per_seconds: 60,
        };
        let outcome = run(rate, &[0, 1, 2, 10_000_000, 10_000_001, 10_000_002, 10_000_003]);
        assert_eq!(outcome, [true, true, true, true, true, true, false]);
    }

    #[test]
    fn a_key_may_be_allowed_more_than_a_thousand_requests_a_second() {
        let rate = Rate {
            requests: 6_000_000,
            per_seconds: 60,
        };
        assert_eq!(emission_interval_us(rate), 10);
        // A spent burst refills at 100 a millisecond.
        let mut tat = Some(6_000_000 * 10);
        let mut allowed = 0;
        while let Decision::Allow { new_tat_us } = decide(MS, tat, rate) {
            tat = Some(new_tat_us);
            allowed += 1;
        }
        assert_eq!(allowed, 100);
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_lease_allows_exactly_what_one_by_one_counting_would(
            requests in 1u32..2_000,
            per_seconds in 1u32..4_000,
            wanted in 1u32..600,
            now_us in 0i64..10_000_000_000,
            offset in -5_000_000_000i64..5_000_000_000,
            fresh in any::<bool>(),
        ) {
            let rate = Rate { requests, per_seconds };
            let stored = (!fresh).then_some(now_us + offset);
            let mut tat = stored;
            let mut allowed = 0u32;
            let mut first_refusal = None;
            for _ in 0..wanted {
                match decide(now_us, tat, rate) {
                    Decision::Allow { new_tat_us } => { tat = Some(new_tat_us); allowed += 1; }
                    Decision::Deny { retry_after_secs } => { first_refusal = Some(retry_after_secs); break; }
                }
            }
            match decide_lease(now_us, stored, rate, wanted) {
                LeaseDecision::Grant { granted, new_tat_us } => {
                    prop_assert_eq!(granted, allowed);
                    prop_assert_eq!(Some(new_tat_us), tat);
                }
                LeaseDecision::Deny { retry_after_secs } => {
                    prop_assert_eq!(allowed, 0);
                    prop_assert_eq!(Some(retry_after_secs), first_refusal);
                }
            }
        }
    }
}
