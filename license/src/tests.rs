//! The verdicts, and every way a file can be damaged or forged.

use super::*;
use ed25519_dalek::SigningKey;
use proptest::prelude::*;

const DAY: i64 = 86_400;
const ISSUED: i64 = 1_790_000_000;

fn signing_key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn trusted(id: &str, seed: u8) -> TrustedKey {
    TrustedKey {
        id: id.to_owned(),
        key: signing_key(seed).verifying_key(),
    }
}

fn claims() -> Claims {
    Claims {
        format: 1,
        license_id: "lic_01".to_owned(),
        organization: serde_json::json!({ "id": "6f1c", "name": "Acme" }),
        tier: "enterprise".to_owned(),
        features: serde_json::json!(["sso", "audit_log"]),
        limits: serde_json::json!({ "users": { "limit": 50 } }),
        issued_at: ISSUED,
        expires_at: ISSUED + 365 * DAY,
        grace_days: 14,
        after_grace: AfterGrace::ReadOnly,
        max_activations: 3,
        node_locked: true,
        fingerprint: Some("host-a".to_owned()),
    }
}

fn signed(claims: &Claims) -> String {
    issue::sign(claims, "gh-1", &signing_key(1)).unwrap()
}

fn at(file: Option<&str>, now: i64) -> Verdict {
    check(&Check {
        file,
        trusted: &[trusted("gh-1", 1), trusted("gh-2", 2)],
        now,
        fingerprint: Some("host-a"),
        watermark: None,
    })
}

#[test]
fn a_valid_file_is_licensed_then_in_grace_then_lapsed_as_it_says() {
    let file = signed(&claims());
    let licensed = at(Some(&file), ISSUED + DAY);
    assert_eq!(licensed.standing, Standing::Licensed);
    assert_eq!(licensed.claims.unwrap().tier, "enterprise");
    let expires = claims().expires_at;
    assert_eq!(at(Some(&file), expires).standing, Standing::Licensed);
    assert_eq!(
        at(Some(&file), expires + 1).standing,
        Standing::InGrace {
            until: expires + 14 * DAY
        }
    );
    assert_eq!(
        at(Some(&file), expires + 14 * DAY + 1).standing,
        Standing::Lapsed {
            after: AfterGrace::ReadOnly
        }
    );
    let warn_only = signed(&Claims {
        after_grace: AfterGrace::WarnOnly,
        ..claims()
    });
    assert_eq!(
        at(Some(&warn_only), expires + 100 * DAY).standing,
        Standing::Lapsed {
            after: AfterGrace::WarnOnly
        }
    );
}

#[test]
fn no_file_and_an_unverifiable_file_are_not_lapsed() {
    assert_eq!(at(None, ISSUED).standing, Standing::NoFile);
    let garbage = at(Some("hello"), ISSUED);
    assert!(matches!(
        garbage.standing,
        Standing::Unverifiable(Unverifiable::Malformed(_))
    ));
    assert_eq!(garbage.claims, None);
}

#[test]
fn tampered_truncated_resigned_unknown_key_and_wrong_machine_files_are_refused() {
    let file = signed(&claims());
    let verdict = |text: &str| at(Some(text), ISSUED + DAY).standing;

    // Tampered: the claims changed after signing (a longer expiry).
    let armoured = file::parse(&file).unwrap();
    let mut longer = claims();
    longer.expires_at += 10 * 365 * DAY;
    let tampered = file::armour("gh-1", &serde_json::to_vec(&longer).unwrap(), &armoured.signature);
    assert_eq!(
        verdict(&tampered),
        Standing::Unverifiable(Unverifiable::BadSignature)
    );

    // Truncated in transit.
    assert_eq!(
        verdict(&file[..file.len() / 2]),
        Standing::Unverifiable(Unverifiable::Malformed(Malformed::Truncated))
    );

    // Re-signed: a key nobody trusts, under a trusted key's id.
    let resigned = issue::sign(&longer, "gh-1", &signing_key(9)).unwrap();
    assert_eq!(
        verdict(&resigned),
        Standing::Unverifiable(Unverifiable::BadSignature)
    );

    // Moved to another key's id: the id is inside what was signed.
    let moved = file.replace("Key-Id: gh-1", "Key-Id: gh-2");
    assert_eq!(
        verdict(&moved),
        Standing::Unverifiable(Unverifiable::BadSignature)
    );

    // Signed by a key this install does not trust.
    let unknown = issue::sign(&claims(), "gh-9", &signing_key(9)).unwrap();
    assert_eq!(
        verdict(&unknown),
        Standing::Unverifiable(Unverifiable::UnknownKey("gh-9".to_owned()))
    );

    // Bound to another machine.
    let elsewhere = check(&Check {
        file: Some(&file),
        trusted: &[trusted("gh-1", 1)],
        now: ISSUED,
        fingerprint: Some("host-b"),
        watermark: None,
    });
    assert_eq!(
        elsewhere.standing,
        Standing::Unverifiable(Unverifiable::WrongMachine)
    );
    let floating = signed(&Claims {
        node_locked: false,
        fingerprint: None,
        ..claims()
    });
    assert_eq!(
        check(&Check {
            file: Some(&floating),
            trusted: &[trusted("gh-1", 1)],
            now: ISSUED,
            fingerprint: None,
            watermark: None,
        })
        .standing,
        Standing::Licensed
    );
}

#[test]
fn a_signature_that_is_valid_but_not_canonical_is_refused() {
    // verify_strict refuses a non-canonical S; here S + the group order.
    let file = signed(&claims());
    let mut armoured = file::parse(&file).unwrap();
    let order: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for (byte, add) in armoured.signature[32..].iter_mut().zip(order) {
        let sum = u16::from(*byte) + u16::from(add) + carry;
        *byte = sum as u8;
        carry = sum >> 8;
    }
    let malleated = file::armour("gh-1", &armoured.claims, &armoured.signature);
    assert!(matches!(
        at(Some(&malleated), ISSUED).standing,
        Standing::Unverifiable(Unverifiable::BadSignature)
    ));
}

#[test]
fn a_clock_set_back_buys_no_time() {
    let file = signed(&claims());
    let lapsed_at = claims().grace_ends_at() + DAY;
    let first = at(Some(&file), lapsed_at);
    assert!(matches!(first.standing, Standing::Lapsed { .. }));
    let rolled_back = check(&Check {
        file: Some(&file),
        trusted: &[trusted("gh-1", 1)],
        now: ISSUED + DAY,
        fingerprint: Some("host-a"),
        watermark: Some(first.watermark),
    });
    assert!(matches!(rolled_back.standing, Standing::Lapsed { .. }));
    assert!(rolled_back.clock_set_back);
    assert_eq!(rolled_back.watermark, first.watermark);
}

#[test]
fn published_keys_are_read_from_base64() {
    let public = STANDARD.encode(signing_key(1).verifying_key().to_bytes());
    assert_eq!(TrustedKey::from_base64("gh-1", &public), Some(trusted("gh-1", 1)));
    assert_eq!(TrustedKey::from_base64("gh 1", &public), None);
    assert_eq!(TrustedKey::from_base64("gh-1", "AAAA"), None);
}

#[test]
fn a_check_in_answer_verifies_and_any_change_to_it_does_not() {
    let answer = r#"{"valid":true,"code":"VALID","nonce":"n-123"}"#;
    let signature = issue::sign_answer(answer, "gh-1", &signing_key(1));
    let keys = [trusted("gh-1", 1)];
    let verified = verify_answer(answer, "gh-1", &signature, &keys).unwrap();
    assert_eq!(verified["nonce"], "n-123");
    let forged = answer.replace("n-123", "n-124");
    assert_eq!(
        verify_answer(&forged, "gh-1", &signature, &keys),
        Err(Unverifiable::BadSignature)
    );
    assert!(matches!(
        verify_answer(answer, "gh-2", &signature, &keys),
        Err(Unverifiable::UnknownKey(_))
    ));
    assert_eq!(
        verify_answer(answer, "gh-1", "AAAA", &keys),
        Err(Unverifiable::BadSignature)
    );
    // A file's signature is no answer's: the domains differ.
    let file = signed(&claims());
    let file_signature = STANDARD.encode(file::parse(&file).unwrap().signature);
    let claims_text = String::from_utf8(file::parse(&file).unwrap().claims).unwrap();
    assert_eq!(
        verify_answer(&claims_text, "gh-1", &file_signature, &keys),
        Err(Unverifiable::BadSignature)
    );
}

proptest! {
    #[test]
    fn any_text_is_checked_without_panicking(text in "(?s).{0,600}") {
        let verdict = at(Some(&text), ISSUED);
        prop_assert!(matches!(verdict.standing, Standing::Unverifiable(_)));
    }

    #[test]
    fn no_single_change_to_a_file_changes_what_it_grants(at_byte in 0usize..2000, by in 0u8..128) {
        let original = signed(&claims());
        let mut bytes = original.clone().into_bytes();
        let at_byte = at_byte % bytes.len();
        prop_assume!(bytes[at_byte] != by);
        bytes[at_byte] = by;
        let Ok(changed) = String::from_utf8(bytes) else { return Ok(()) };
        let verdict = at(Some(&changed), ISSUED + DAY);
        // Either refused, or (a change to blank space) exactly the same claims.
        if let Some(granted) = verdict.claims {
            prop_assert_eq!(granted, claims());
        }
    }

    #[test]
    fn every_cut_of_a_file_is_refused_or_grants_the_same(keep in 0usize..2000) {
        let original = signed(&claims());
        let cut = &original[..keep.min(original.len())];
        if let Some(granted) = at(Some(cut), ISSUED + DAY).claims {
            prop_assert_eq!(granted, claims());
        } else {
            prop_assert!(matches!(at(Some(cut), ISSUED + DAY).standing, Standing::Unverifiable(_)));
        }
    }

    #[test]
    fn the_verdict_follows_the_clock(offset in -1000i64..1000) {
        let file = signed(&claims());
        let now = claims().expires_at + offset * DAY;
        let standing = at(Some(&file), now).standing;
        let expected = if now <= claims().expires_at {
            Standing::Licensed
        } else if now <= claims().grace_ends_at() {
            Standing::InGrace { until: claims().grace_ends_at() }
        } else {
            Standing::Lapsed { after: AfterGrace::ReadOnly }
        };
        prop_assert_eq!(standing, expected);
    }
}

#[test]
fn after_grace_words_read_back_and_match_the_file_format() {
    for after in [AfterGrace::ReadOnly, AfterGrace::WarnOnly] {
        assert_eq!(AfterGrace::parse(after.as_str()), Some(after));
        assert_eq!(
            serde_json::to_string(&after).unwrap(),
            format!("\"{}\"", after.as_str())
        );
    }
    for word in ["", "stop", "Read_Only", "read-only"] {
        assert_eq!(AfterGrace::parse(word), None, "{word:?}");
    }
}
