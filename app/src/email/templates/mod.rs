//! The emails Gatehouse sends. Every message is a `Letter` (paragraphs,
//! one action, a footnote) drawn in one layout with the product's name and
//! brand colour; its plain-text part is written from the same parts, so the
//! two never say different things.

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

/// Who the emails come from, as the site content names and colours it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brand {
    /// The product's name, as emails sign it.
    pub product: String,
    /// `#rrggbb`, white text on it readable (the site content checks it).
    pub colour: String,
}

impl Brand {
    /// A brand; a colour that is not `#rrggbb` falls back to the default
    /// (the colour lands in a style attribute, so it is never copied raw).
    pub fn new(product: impl Into<String>, colour: &str) -> Self {
        let valid = colour.len() == 7
            && colour.starts_with('#')
            && colour[1..].chars().all(|c| c.is_ascii_hexdigit());
        Brand {
            product: product.into(),
            colour: if valid {
                colour.to_owned()
            } else {
                DEFAULT_COLOUR.to_owned()
            },
        }
    }
}

/// The colour of a brand that names none.
pub const DEFAULT_COLOUR: &str = "#4338ca";

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

/// Why someone receives an email, said at its foot.
const TO_OWNERS: &str =
    "You are receiving this because you own or manage billing for this organisation's account.";

/// What every email is made of.
struct Letter<'a> {
    template: &'static str,
    subject: String,
    paragraphs: Vec<String>,
    /// The button's label and link.
    action: Option<(&'a str, &'a str)>,
    footnote: &'a str,
}

impl Letter<'_> {
    fn render(self, brand: &Brand) -> EmailMessage {
        let mut text = self.paragraphs.join("\n\n");
        if let Some((label, url)) = self.action {
            text.push_str(&format!("\n\n{label}: {url}"));
        }
        text.push_str(&format!("\n\n{}\n\n{}\n", self.footnote, brand.product));
        EmailMessage {
            template: self.template,
            html: layout(brand, &self.paragraphs, self.action, self.footnote),
            subject: self.subject,
            text,
        }
    }
}

fn layout(brand: &Brand, paragraphs: &[String], action: Option<(&str, &str)>, footnote: &str) -> String {
    let product = escape_html(&brand.product);
    let colour = escape_html(&brand.colour);
    let body: String = paragraphs
        .iter()
        .map(|p| format!("<p style=\"margin:0 0 16px\">{}</p>", escape_html(p)))
        .collect();
    let button = action.map_or_else(String::new, |(label, url)| {
        let url = escape_html(url);
        format!(
            "<p style=\"margin:24px 0\"><a href=\"{url}\" style=\"background:{colour};color:#ffffff;\
             padding:12px 20px;border-radius:6px;text-decoration:none;font-weight:600\">{}</a></p>\
             <p style=\"margin:0 0 16px;font-size:13px;color:#475569\">Or paste this link into your browser:<br>{url}</p>",
            escape_html(label)
        )
    });
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width\"><title>{product}</title></head>\
         <body style=\"margin:0;padding:24px;background:#f8fafc;font-family:system-ui,sans-serif;color:#0f172a\">\
         <div style=\"max-width:560px;margin:0 auto;background:#ffffff;border-radius:8px;padding:32px;\
         border-top:4px solid {colour}\">\
         <p style=\"margin:0 0 24px;font-size:20px;font-weight:700;color:{colour}\">{product}</p>{body}{button}\
         <p style=\"margin:24px 0 0;font-size:13px;color:#64748b\">{}</p></div></body></html>",
        escape_html(footnote)
    )
}

/// Sent after signup.
pub fn welcome(brand: &Brand, company: &str, trial_days: u32, portal_url: &str) -> EmailMessage {
    let product = &brand.product;
    Letter {
        template: "welcome",
        subject: format!("Welcome to {product}"),
        paragraphs: vec![
            format!("Welcome to {product}! Your {trial_days}-day free trial for {company} has started."),
            "Invite your team, connect your first line and see your operations in one place.".to_owned(),
        ],
        action: Some(("Open your account", portal_url)),
        footnote: "You are receiving this because you signed up.",
    }
    .render(brand)
}

/// Confirms an email address; the link is valid for 24 hours.
pub fn verify_email(brand: &Brand, link: &str) -> EmailMessage {
    Letter {
        template: "verify_email",
        subject: format!("Confirm your email for {}", brand.product),
        paragraphs: vec![
            "Confirm your email address to keep your account secure and receive billing notices.".to_owned(),
        ],
        action: Some(("Confirm my email", link)),
        footnote: "The link works once and expires in 24 hours. If you did not sign up, ignore this email.",
    }
    .render(brand)
}

/// Resets a password; the link is valid for one hour.
pub fn reset_password(brand: &Brand, link: &str) -> EmailMessage {
    let product = &brand.product;
    Letter {
        template: "reset_password",
        subject: format!("Reset your {product} password"),
        paragraphs: vec![format!("Someone asked to reset the password of your {product} account.")],
        action: Some(("Choose a new password", link)),
        footnote: "The link works once and expires in 1 hour. If you did not ask, ignore this email: your password stays as it is.",
    }
    .render(brand)
}

/// Invites someone into an organisation; the link is valid for 7 days.
pub fn invitation(brand: &Brand, organization: &str, inviter: &str, role: &str, link: &str) -> EmailMessage {
    let product = &brand.product;
    Letter {
        template: "invitation",
        subject: format!("{inviter} invited you to {organization} on {product}"),
        paragraphs: vec![format!("{inviter} invited you to join {organization} on {product} as {role}.")],
        action: Some(("Accept invitation", link)),
        footnote: "The link works once and expires in 7 days. If you were not expecting it, ignore this email.",
    }
    .render(brand)
}

/// Sent when someone signs up with an address that already has an account,
/// instead of revealing that on the signup page.
pub fn signup_with_existing_account(brand: &Brand, login_url: &str) -> EmailMessage {
    let product = &brand.product;
    Letter {
        template: "signup_existing_account",
        subject: format!("You already have a {product} account"),
        paragraphs: vec![format!(
            "Someone tried to create a {product} account with this email address, which already has one."
        )],
        action: Some(("Sign in", login_url)),
        footnote: "Forgot your password? Use \"Forgot password\" on the sign-in page. If this was not you, ignore this email.",
    }
    .render(brand)
}

/// What a trial that turns into a subscription will charge, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpcomingCharge {
    /// The amount, formatted with its currency.
    pub amount: String,
    /// The day, as people write it.
    pub on: String,
}

/// Sent 7, 3 and 1 days (the catalogue's offsets) before a trial ends; the
/// nearer the end, the more urgent. With a card on file (`charge`), it says
/// what will be charged and when.
pub fn trial_ending(
    brand: &Brand,
    organization: &str,
    ends_on: &str,
    days_left: u32,
    charge: Option<&UpcomingCharge>,
    billing_url: &str,
) -> EmailMessage {
    let product = &brand.product;
    let when = match days_left {
        0 | 1 => "tomorrow".to_owned(),
        n => format!("in {n} days"),
    };
    let subject = match (days_left, charge) {
        (_, Some(_)) => format!("Your {product} trial ends {when}"),
        (0..=1, None) => format!("Last day: your {product} trial ends {when}"),
        (2..=3, None) => format!("Action needed: your {product} trial ends {when}"),
        _ => format!("Your {product} trial ends {when}"),
    };
    let mut paragraphs = vec![format!(
        "The {product} trial for {organization} ends {when}, on {ends_on}."
    )];
    let action = match charge {
        Some(charge) => {
            paragraphs.push(format!(
                "Your subscription then starts and the card on file is charged {} on {}. Review your plan or change it before then.",
                charge.amount, charge.on
            ));
            "Review your plan"
        }
        None => {
            paragraphs.push(match days_left {
                0..=1 => format!(
                    "After tomorrow the account is paused until a plan is chosen. Choose one today to keep using {product} without interruption; your data stays as it is."
                ),
                2..=3 => format!(
                    "Choose a plan and add a card now to keep using {product} without interruption. Your data stays as it is."
                ),
                _ => format!(
                    "There is still time to explore. When you are ready, choose a plan to keep using {product} after the trial."
                ),
            });
            "Choose a plan"
        }
    };
    Letter {
        template: "trial_ending",
        subject,
        paragraphs,
        action: Some((action, billing_url)),
        footnote: TO_OWNERS,
    }
    .render(brand)
}

/// Sent when a trial ended without a subscription: the account is paused.
pub fn trial_ended(brand: &Brand, organization: &str, billing_url: &str) -> EmailMessage {
    let product = &brand.product;
    Letter {
        template: "trial_ended",
        subject: format!("Your {product} trial has ended"),
        paragraphs: vec![
            format!("The {product} trial for {organization} has ended, and the account is paused."),
            "Nothing is lost: choose a plan and everything is back as you left it.".to_owned(),
        ],
        action: Some(("Choose a plan", billing_url)),
        footnote: TO_OWNERS,
    }
    .render(brand)
}

/// Sent when an invoice is paid.
pub fn payment_receipt(
    brand: &Brand,
    organization: &str,
    amount: &str,
    invoice_number: &str,
    invoice_url: &str,
) -> EmailMessage {
    let product = &brand.product;
    Letter {
        template: "payment_receipt",
        subject: format!("Receipt for your {product} payment of {amount}"),
        paragraphs: vec![
            format!("Thank you: we received {amount} for {organization}'s {product} subscription."),
            format!("Invoice {invoice_number} is paid. Keep it for your records."),
        ],
        action: Some(("View the invoice", invoice_url)),
        footnote: TO_OWNERS,
    }
    .render(brand)
}

/// Sent for each failed attempt to charge an invoice.
pub fn payment_failed(
    brand: &Brand,
    organization: &str,
    amount: &str,
    attempt: u32,
    next_retry_on: Option<&str>,
    fix_url: &str,
) -> EmailMessage {
    let product = &brand.product;
    let retry = match next_retry_on {
        Some(day) => format!("We will try again on {day}. Update the payment method before then to avoid any interruption."),
        None => "No further attempt is scheduled. Update the payment method to settle the invoice and avoid any interruption.".to_owned(),
    };
    Letter {
        template: "payment_failed",
        subject: format!("Payment of {amount} failed (attempt {attempt})"),
        paragraphs: vec![
            format!("We could not charge {amount} for {organization}'s {product} subscription (attempt {attempt})."),
            retry,
        ],
        action: Some(("Update payment method", fix_url)),
        footnote: TO_OWNERS,
    }
    .render(brand)
}

/// Sent when the bank asks the cardholder to authenticate a payment.
pub fn payment_action_required(
    brand: &Brand,
    organization: &str,
    amount: &str,
    invoice_url: &str,
) -> EmailMessage {
    let product = &brand.product;
    Letter {
        template: "payment_action_required",
        subject: format!("Confirm your payment of {amount}"),
        paragraphs: vec![
            format!("Your bank needs you to confirm the payment of {amount} for {organization}'s {product} subscription."),
            "Open the invoice and confirm the payment with your bank; it takes a minute.".to_owned(),
        ],
        action: Some(("Confirm the payment", invoice_url)),
        footnote: TO_OWNERS,
    }
    .render(brand)
}

/// Sent when an unpaid invoice's grace period ends: the account is read-only.
pub fn account_restricted(
    brand: &Brand,
    organization: &str,
    amount: &str,
    grace_days: u32,
    fix_url: &str,
) -> EmailMessage {
    let product = &brand.product;
    Letter {
        template: "account_restricted",
        subject: format!("Your {product} account is now read-only"),
        paragraphs: vec![
            format!("{amount} for {organization}'s {product} subscription has been unpaid for {grace_days} days, so the account is now read-only."),
            "Everything is still there and readable. Pay the invoice or update the payment method, and full access returns at once.".to_owned(),
        ],
        action: Some(("Settle the invoice", fix_url)),
        footnote: TO_OWNERS,
    }
    .render(brand)
}

/// Sent when a payment settles an unpaid invoice (and lifts a restriction).
pub fn account_restored(brand: &Brand, organization: &str, amount: &str, portal_url: &str) -> EmailMessage {
    let product = &brand.product;
    Letter {
        template: "account_restored",
        subject: format!("Payment received: {product} is fully available again"),
        paragraphs: vec![
            format!("We received {amount} for {organization}'s {product} subscription. Thank you."),
            "Every restriction is lifted and your account is back to normal.".to_owned(),
        ],
        action: Some(("Open your account", portal_url)),
        footnote: TO_OWNERS,
    }
    .render(brand)
}

/// Sent when a subscription has ended.
pub fn subscription_cancelled(brand: &Brand, organization: &str, billing_url: &str) -> EmailMessage {
    let product = &brand.product;
    Letter {
        template: "subscription_cancelled",
        subject: format!("Your {product} subscription has ended"),
        paragraphs: vec![
            format!("{organization}'s {product} subscription has ended and the account is now read-only."),
            "Your data is kept. Choose a plan any time to pick up where you left off.".to_owned(),
        ],
        action: Some(("Choose a plan", billing_url)),
        footnote: TO_OWNERS,
    }
    .render(brand)
}

/// Sent when a subscription is set to end at its period's end.
pub fn cancellation_scheduled(
    brand: &Brand,
    organization: &str,
    ends_on: &str,
    billing_url: &str,
) -> EmailMessage {
    let product = &brand.product;
    Letter {
        template: "cancellation_scheduled",
        subject: format!("Your {product} subscription ends on {ends_on}"),
        paragraphs: vec![
            format!("{organization}'s {product} subscription is cancelled and ends on {ends_on}; nothing more will be charged."),
            "Until then everything works as before. Changed your mind? Resume the subscription from the billing page.".to_owned(),
        ],
        action: Some(("Manage billing", billing_url)),
        footnote: TO_OWNERS,
    }
    .render(brand)
}

/// Sent when a subscription moves to another plan or cycle.
pub fn plan_changed(brand: &Brand, organization: &str, plan: &str, billing_url: &str) -> EmailMessage {
    let product = &brand.product;
    Letter {
        template: "plan_changed",
        subject: format!("Your {product} plan is now {plan}"),
        paragraphs: vec![
            format!("{organization} is now on the {plan} plan of {product}."),
            "The billing page shows what changed and what the next invoice will be.".to_owned(),
        ],
        action: Some(("See your plan", billing_url)),
        footnote: TO_OWNERS,
    }
    .render(brand)
}

/// Sent once when a metered limit reaches 80 % of its allowance.
pub fn usage_warning(
    brand: &Brand,
    organization: &str,
    metric: &str,
    used: u64,
    limit: u64,
    billing_url: &str,
) -> EmailMessage {
    let product = &brand.product;
    let percent = used.saturating_mul(100).checked_div(limit).unwrap_or(100);
    Letter {
        template: "usage_warning",
        subject: format!("{organization} has used {percent} % of its {metric} on {product}"),
        paragraphs: vec![
            format!("{organization} has used {used} of its {limit} {metric} ({percent} %)."),
            "At the limit, new ones are refused until the plan allows more. Upgrade or add capacity from the billing page.".to_owned(),
        ],
        action: Some(("See plans", billing_url)),
        footnote: TO_OWNERS,
    }
    .render(brand)
}

/// Sent when a platform admin suspends an organisation.
pub fn suspended(brand: &Brand, organization: &str, reason: &str, portal_url: &str) -> EmailMessage {
    let product = &brand.product;
    Letter {
        template: "suspended",
        subject: format!("{organization} has been suspended on {product}"),
        paragraphs: vec![
            format!("{organization}'s {product} account has been suspended and is read-only for now."),
            format!("The reason given: {reason}"),
            "Your data is kept and stays readable. Reply to this email to resolve it and have the account reactivated.".to_owned(),
        ],
        action: Some(("Open your account", portal_url)),
        footnote: TO_OWNERS,
    }
    .render(brand)
}

/// Sent when a platform admin lifts a suspension.
pub fn reactivated(brand: &Brand, organization: &str, portal_url: &str) -> EmailMessage {
    let product = &brand.product;
    Letter {
        template: "reactivated",
        subject: format!("{organization} is active again on {product}"),
        paragraphs: vec![format!(
            "The suspension of {organization}'s {product} account has been lifted; everything works as before."
        )],
        action: Some(("Open your account", portal_url)),
        footnote: TO_OWNERS,
    }
    .render(brand)
}

/// Sent when a self-hosted licence is issued with a subscription. The key
/// itself is not in the email: the portal shows it to the organisation's
/// members, behind their sign-in.
pub fn license_issued(brand: &Brand, organization: &str, licenses_url: &str) -> EmailMessage {
    let product = &brand.product;
    Letter {
        template: "license_issued",
        subject: format!("Your {product} self-hosted licence is ready"),
        paragraphs: vec![
            format!("A self-hosted licence for {organization} is ready."),
            format!(
                "Copy its key or download the licence file from your {product} account, and activate each installation with it."
            ),
        ],
        action: Some(("See your licences", licenses_url)),
        footnote: TO_OWNERS,
    }
    .render(brand)
}

/// Sent 30 and 7 days before a self-hosted licence ends without renewing.
pub fn license_expiring(
    brand: &Brand,
    organization: &str,
    ends_on: &str,
    days_left: i64,
    licenses_url: &str,
) -> EmailMessage {
    let product = &brand.product;
    Letter {
        template: "license_expiring",
        subject: format!("Your {product} self-hosted licence ends in {days_left} days"),
        paragraphs: vec![
            format!("The self-hosted {product} licence for {organization} ends in {days_left} days, on {ends_on}."),
            "After that, installations keep running through the licence's grace period and then turn read-only. Renew the subscription or talk to us to keep them fully licensed.".to_owned(),
        ],
        action: Some(("See your licences", licenses_url)),
        footnote: TO_OWNERS,
    }
    .render(brand)
}

/// Every template once, filled with sample data (the console's preview and
/// the tests walk this list, so a new template belongs in it).
pub fn samples(brand: &Brand, public_url: &str) -> Vec<EmailMessage> {
    let link = |path: &str| format!("{public_url}{path}");
    let billing = link("/app/billing");
    let charge = UpcomingCharge {
        amount: "$49.00".to_owned(),
        on: "20 December 2026".to_owned(),
    };
    vec![
        welcome(brand, "Acme Ltd", 14, &link("/app")),
        verify_email(brand, &link("/verify-email?token=sample")),
        reset_password(brand, &link("/reset-password?token=sample")),
        invitation(
            brand,
            "Acme Ltd",
            "ada@acme.example",
            "member",
            &link("/invitations/sample"),
        ),
        signup_with_existing_account(brand, &link("/login")),
        trial_ending(brand, "Acme Ltd", "20 December 2026", 7, None, &billing),
        trial_ending(brand, "Acme Ltd", "20 December 2026", 3, None, &billing),
        trial_ending(brand, "Acme Ltd", "20 December 2026", 1, Some(&charge), &billing),
        trial_ended(brand, "Acme Ltd", &billing),
        payment_receipt(
            brand,
            "Acme Ltd",
            "$49.00",
            "GH-0042",
            &link("/app/billing/invoices"),
        ),
        payment_failed(brand, "Acme Ltd", "$49.00", 2, Some("23 December 2026"), &billing),
        payment_action_required(brand, "Acme Ltd", "$49.00", &link("/app/billing/invoices")),
        account_restricted(brand, "Acme Ltd", "$49.00", 14, &billing),
        account_restored(brand, "Acme Ltd", "$49.00", &link("/app")),
        subscription_cancelled(brand, "Acme Ltd", &billing),
        cancellation_scheduled(brand, "Acme Ltd", "31 December 2026", &billing),
        plan_changed(brand, "Acme Ltd", "Professional (annual)", &billing),
        usage_warning(brand, "Acme Ltd", "API calls", 8_000, 10_000, &billing),
        suspended(
            brand,
            "Acme Ltd",
            "Unusual payment activity under review.",
            &link("/app"),
        ),
        reactivated(brand, "Acme Ltd", &link("/app")),
        license_issued(brand, "Acme Ltd", &link("/app/licenses")),
        license_expiring(brand, "Acme Ltd", "5 January 2027", 30, &link("/app/licenses")),
    ]
}

/// The brand emails are sent under, as the server provided it to the
/// request.
#[cfg(feature = "ssr")]
pub fn brand() -> Result<Brand, crate::error::AppError> {
    let brand: std::sync::Arc<Brand> = crate::context::provided()?;
    Ok(Brand::clone(&brand))
}

#[cfg(test)]
mod tests;
