//! Tests of `templates`.

use super::*;

fn brand() -> Brand {
    Brand::new("Forgeline", "#0f766e")
}

#[test]
fn every_template_has_both_parts_in_the_brand_with_its_link() {
    let samples = samples(&brand(), "http://127.0.0.1:3000");
    let mut names: Vec<_> = samples.iter().map(|m| m.template).collect();
    names.dedup();
    assert_eq!(names.len(), 20, "every template is sampled: {names:?}");
    for message in &samples {
        assert!(!message.subject.is_empty());
        assert!(
            message.html.starts_with("<!DOCTYPE html>"),
            "{}",
            message.template
        );
        assert!(
            message.html.contains("#0f766e"),
            "{} uses the brand colour",
            message.template
        );
        assert!(
            message.html.contains(">Forgeline</p>"),
            "{} names the product",
            message.template
        );
        assert!(
            message.text.contains("http://127.0.0.1:3000/"),
            "{}",
            message.template
        );
        assert!(
            message.html.contains("http://127.0.0.1:3000/"),
            "{}",
            message.template
        );
        assert!(
            message.text.ends_with("Forgeline\n"),
            "{} is signed",
            message.template
        );
        assert!(
            !message.text.contains('<'),
            "{}'s text part has no markup",
            message.template
        );
    }
}

#[test]
fn trial_reminders_grow_more_urgent_and_name_the_charge_with_a_card() {
    let link = "http://127.0.0.1:3000/app/billing";
    let seven = trial_ending(&brand(), "Acme", "25 November 2026", 7, None, link);
    let three = trial_ending(&brand(), "Acme", "25 November 2026", 3, None, link);
    let one = trial_ending(&brand(), "Acme", "25 November 2026", 1, None, link);
    assert_eq!(seven.subject, "Your Forgeline trial ends in 7 days");
    assert_eq!(
        three.subject,
        "Action needed: your Forgeline trial ends in 3 days"
    );
    assert_eq!(one.subject, "Last day: your Forgeline trial ends tomorrow");
    assert!(one.text.contains("paused"));
    let charge = UpcomingCharge {
        amount: "$49.00".into(),
        on: "25 November 2026".into(),
    };
    let subscribed = trial_ending(&brand(), "Acme", "25 November 2026", 3, Some(&charge), link);
    assert!(
        subscribed.text.contains("charged $49.00 on 25 November 2026"),
        "{}",
        subscribed.text
    );
}

#[test]
fn the_payment_emails_carry_amount_attempt_and_next_retry() {
    let failed = payment_failed(
        &brand(),
        "Acme",
        "$49.00",
        2,
        Some("3 December 2026"),
        "http://x/app/billing",
    );
    assert_eq!(failed.subject, "Payment of $49.00 failed (attempt 2)");
    assert!(failed.text.contains("try again on 3 December 2026"));
    let last = payment_failed(&brand(), "Acme", "$49.00", 4, None, "http://x/app/billing");
    assert!(last.text.contains("No further attempt"));
}

#[test]
fn a_colour_that_is_not_hex_never_reaches_the_style() {
    for bad in ["red", "#12345", "#1234567", "#12345g", "\";x:y", ""] {
        assert_eq!(Brand::new("X", bad).colour, DEFAULT_COLOUR, "{bad:?}");
    }
    assert_eq!(Brand::new("X", "#ABCDEF").colour, "#ABCDEF");
}

#[test]
fn user_supplied_names_are_escaped_in_html() {
    let message = invitation(
        &brand(),
        "<script>alert(1)</script>",
        "a&b",
        "member",
        "http://x/?a=1&b=2",
    );
    assert!(!message.html.contains("<script>"));
    assert!(message.html.contains("&lt;script&gt;"));
    assert!(message.html.contains("http://x/?a=1&amp;b=2"));
    assert!(message.text.contains("<script>"), "plain text is not HTML");
}
