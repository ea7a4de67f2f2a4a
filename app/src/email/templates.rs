//! The emails Gatehouse sends, each with a plain-text and an HTML part.

/// A rendered email, ready for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailMessage {
    /// Which template made it.
    pub template: &'static str,
    /// Subject line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

/// Escapes text for HTML content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

fn layout(product: &str, paragraphs: &[String], action: Option<(&str, &str)>, footnote: &str) -> String {
    let product = escape_html(product);
    let body: String = paragraphs
        .iter()
        .map(|p| format!("<p style=\"margin:0 0 16px\">{}</p>", escape_html(p)))
        .collect();
    let button = action.map_or_else(String::new, |(label, url)| {
        let url = escape_html(url);
        format!(
            "<p style=\"margin:24px 0\"><a href=\"{url}\" style=\"background:#4338ca;color:#ffffff;\
             padding:12px 20px;border-radius:6px;text-decoration:none;font-weight:600\">{}</a></p>\
             <p style=\"margin:0 0 16px;font-size:13px;color:#475569\">Or paste this link into your browser:<br>{url}</p>",
            escape_html(label)
        )
    });
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{product}</title></head>\
         <body style=\"margin:0;padding:24px;background:#f8fafc;font-family:system-ui,sans-serif;color:#0f172a\">\
         <div style=\"max-width:560px;margin:0 auto;background:#ffffff;border-radius:8px;padding:32px\">\
         <p style=\"margin:0 0 24px;font-size:20px;font-weight:700\">{product}</p>{body}{button}\
         <p style=\"margin:24px 0 0;font-size:13px;color:#64748b\">{}</p></div></body></html>",
        escape_html(footnote)
    )
}

/// Sent after signup.
pub fn welcome(product: &str, company: &str, trial_days: u32, portal_url: &str) -> EmailMessage {
    let lines = vec![
        format!("Welcome to {product}! Your {trial_days}-day free trial for {company} has started."),
        "Invite your team, connect your first line and see your operations in one place.".to_owned(),
    ];
    EmailMessage {
        template: "welcome",
        subject: format!("Welcome to {product}"),
        text: format!("{}\n\n{}\n\nOpen {product}: {portal_url}\n", lines[0], lines[1]),
        html: layout(
            product,
            &lines,
            Some(("Open your account", portal_url)),
            "You are receiving this because you signed up.",
        ),
    }
}

/// Confirms an email address; the link is valid for 24 hours.
pub fn verify_email(product: &str, link: &str) -> EmailMessage {
    let lines = vec![
        "Confirm your email address to keep your account secure and receive billing notices.".to_owned(),
    ];
    EmailMessage {
        template: "verify_email",
        subject: format!("Confirm your email for {product}"),
        text: format!(
            "{}\n\nConfirm your email: {link}\n\nThe link works once and expires in 24 hours. If you did not sign up, ignore this email.\n",
            lines[0]
        ),
        html: layout(
            product,
            &lines,
            Some(("Confirm my email", link)),
            "The link works once and expires in 24 hours. If you did not sign up, ignore this email.",
        ),
    }
}

/// Resets a password; the link is valid for one hour.
pub fn reset_password(product: &str, link: &str) -> EmailMessage {
    let lines = vec![format!(
        "Someone asked to reset the password of your {product} account."
    )];
    EmailMessage {
        template: "reset_password",
        subject: format!("Reset your {product} password"),
        text: format!(
            "{}\n\nChoose a new password: {link}\n\nThe link works once and expires in 1 hour. If you did not ask, ignore this email: your password stays as it is.\n",
            lines[0]
        ),
        html: layout(
            product,
            &lines,
            Some(("Choose a new password", link)),
            "The link works once and expires in 1 hour. If you did not ask, ignore this email: your password stays as it is.",
        ),
    }
}

/// Invites someone into an organisation; the link is valid for 7 days.
pub fn invitation(product: &str, organization: &str, inviter: &str, role: &str, link: &str) -> EmailMessage {
    let lines = vec![format!(
        "{inviter} invited you to join {organization} on {product} as {role}."
    )];
    EmailMessage {
        template: "invitation",
        subject: format!("{inviter} invited you to {organization} on {product}"),
        text: format!(
            "{}\n\nAccept the invitation: {link}\n\nThe link works once and expires in 7 days.\n",
            lines[0]
        ),
        html: layout(
            product,
            &lines,
            Some(("Accept invitation", link)),
            "The link works once and expires in 7 days. If you were not expecting it, ignore this email.",
        ),
    }
}

/// Sent when someone signs up with an address that already has an account,
/// instead of revealing that on the signup page.
pub fn signup_with_existing_account(product: &str, login_url: &str) -> EmailMessage {
    let lines = vec![format!(
        "Someone tried to create a {product} account with this email address, which already has one."
    )];
    EmailMessage {
        template: "signup_existing_account",
        subject: format!("You already have a {product} account"),
        text: format!(
            "{}\n\nSign in: {login_url}\n\nForgot your password? Use \"Forgot password\" on the sign-in page. If this was not you, ignore this email.\n",
            lines[0]
        ),
        html: layout(
            product,
            &lines,
            Some(("Sign in", login_url)),
            "Forgot your password? Use \"Forgot password\" on the sign-in page. If this was not you, ignore this email.",
        ),
    }
}

/// Sent a few days before a trial ends. `subscribed` says whether a plan and
/// card are already in place (the trial then turns into the subscription).
pub fn trial_ending(
    product: &str,
    organization: &str,
    ends_on: &str,
    days_left: u32,
    subscribed: bool,
    billing_url: &str,
) -> EmailMessage {
    let when = match days_left {
        0 | 1 => "tomorrow".to_owned(),
        n => format!("in {n} days"),
    };
    let lines = vec![
        format!("The {product} trial for {organization} ends {when}, on {ends_on}."),
        if subscribed {
            "Your subscription then starts and the card on file is charged. Review your plan or change it before then."
                .to_owned()
        } else {
            format!(
                "Choose a plan and add a card to keep using {product} without interruption. Your data stays as it is."
            )
        },
    ];
    let action = if subscribed {
        "Review your plan"
    } else {
        "Choose a plan"
    };
    EmailMessage {
        template: "trial_ending",
        subject: format!("Your {product} trial ends {when}"),
        text: format!(
            "{}

{}

{action}: {billing_url}
",
            lines[0], lines[1]
        ),
        html: layout(
            product,
            &lines,
            Some((action, billing_url)),
            "You are receiving this because you own this organisation's account.",
        ),
    }
}

/// Sent when a trial ended without a subscription: the account is paused.
pub fn trial_ended(product: &str, organization: &str, billing_url: &str) -> EmailMessage {
    let lines = vec![
        format!("The {product} trial for {organization} has ended, and the account is paused."),
        "Nothing is lost: choose a plan and everything is back as you left it.".to_owned(),
    ];
    EmailMessage {
        template: "trial_ended",
        subject: format!("Your {product} trial has ended"),
        text: format!(
            "{}

{}

Choose a plan: {billing_url}
",
            lines[0], lines[1]
        ),
        html: layout(
            product,
            &lines,
            Some(("Choose a plan", billing_url)),
            "You are receiving this because you own this organisation's account.",
        ),
    }
}

/// Sent when a self-hosted licence is issued with a subscription. The key
/// itself is not in the email: the portal shows it to the organisation's
/// members, behind their sign-in.
pub fn license_issued(product: &str, organization: &str, licenses_url: &str) -> EmailMessage {
    let lines = vec![
        format!("A self-hosted licence for {organization} is ready."),
        format!(
            "Copy its key or download the licence file from your {product} account, and activate each installation with it."
        ),
    ];
    EmailMessage {
        template: "license_issued",
        subject: format!("Your {product} self-hosted licence is ready"),
        text: format!("{}\n\n{}\n\nYour licences: {licenses_url}\n", lines[0], lines[1]),
        html: layout(
            product,
            &lines,
            Some(("See your licences", licenses_url)),
            "You are receiving this because you own this organisation's account.",
        ),
    }
}

/// Sent 30 and 7 days before a self-hosted licence ends without renewing.
pub fn license_expiring(
    product: &str,
    organization: &str,
    ends_on: &str,
    days_left: i64,
    licenses_url: &str,
) -> EmailMessage {
    let lines = vec![
        format!("The self-hosted {product} licence for {organization} ends in {days_left} days, on {ends_on}."),
        "After that, installations keep running through the licence's grace period and then turn read-only. Renew the subscription or talk to us to keep them fully licensed.".to_owned(),
    ];
    EmailMessage {
        template: "license_expiring",
        subject: format!("Your {product} self-hosted licence ends in {days_left} days"),
        text: format!("{}\n\n{}\n\nYour licences: {licenses_url}\n", lines[0], lines[1]),
        html: layout(
            product,
            &lines,
            Some(("See your licences", licenses_url)),
            "You are receiving this because you own this organisation's account.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_has_both_parts_with_the_link() {
        let link = "http://127.0.0.1:3000/verify?token=abc";
        for message in [
            welcome("Forgeline", "Acme", 14, "http://127.0.0.1:3000/app"),
            verify_email("Forgeline", link),
            reset_password("Forgeline", link),
            invitation("Forgeline", "Acme", "ada@acme.test", "member", link),
            license_issued("Forgeline", "Acme", link),
            license_expiring("Forgeline", "Acme", "25 November 2026", 7, link),
            signup_with_existing_account("Forgeline", link),
            trial_ending("Forgeline", "Acme", "25 November 2026", 3, false, link),
            trial_ending("Forgeline", "Acme", "25 November 2026", 1, true, link),
            trial_ended("Forgeline", "Acme", link),
        ] {
            assert!(!message.subject.is_empty());
            assert!(
                message.html.starts_with("<!DOCTYPE html>"),
                "{}",
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
        }
    }

    #[test]
    fn the_trial_reminder_says_when_and_what_happens_next() {
        let link = "http://127.0.0.1:3000/app/billing";
        let unpaid = trial_ending("Forgeline", "Acme", "25 November 2026", 3, false, link);
        assert_eq!(unpaid.subject, "Your Forgeline trial ends in 3 days");
        assert!(unpaid.text.contains("on 25 November 2026"));
        assert!(unpaid.text.contains("Choose a plan"));
        let subscribed = trial_ending("Forgeline", "Acme", "23 November 2026", 1, true, link);
        assert_eq!(subscribed.subject, "Your Forgeline trial ends tomorrow");
        assert!(subscribed.text.contains("card on file is charged"));
    }

    #[test]
    fn user_supplied_names_are_escaped_in_html() {
        let message = invitation(
            "Forgeline",
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
}
