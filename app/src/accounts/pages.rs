//! Sign-in, sign-out, email confirmation and recovery pages. Every form is a plain HTML form that
//! posts to its server function, so all of them work without JavaScript.

use crate::ui::auth_card::{AuthCard, BUTTON};
use crate::ui::form::{FormFeedback, FormSummary, Notice, TextField};
use crate::ui::{ErrorNotice, product_name};
use leptos::prelude::*;
use leptos_meta::{Meta, Title};

fn query_value(name: &str) -> Option<String> {
    crate::ui::query_value(name)
}

/// `/login?next=…`.
#[component]
pub fn LoginPage() -> impl IntoView {
    let product = product_name();
    let feedback = FormFeedback::from_address();
    let next = feedback
        .value("next")
        .or_else(|| query_value("next"))
        .unwrap_or_default();
    let verified = query_value("verified").is_some();
    view! {
        <Title text=format!("Sign in — {product}") />
        <AuthCard heading="Sign in">
            {verified.then(|| view! { <Notice message="Your email is confirmed. Sign in to continue.".to_owned() /> })}
            <form method="post" action="/api/login" class="space-y-4" novalidate>
                <FormSummary feedback=feedback.clone() />
                <input type="hidden" name="next" value=next />
                <TextField name="email" label="Email" input_type="email" autocomplete="email" feedback=feedback.clone() autofocus=true />
                <TextField name="password" label="Password" input_type="password" autocomplete="current-password" feedback=feedback.clone() />
                <button type="submit" class=BUTTON>"Sign in"</button>
            </form>
            <p class="flex justify-between text-sm text-slate-600">
                <a href="/forgot-password" class="underline">"Forgot your password?"</a>
                <a href="/signup" class="underline">"Start a free trial"</a>
            </p>
        </AuthCard>
    }
}

/// `/logout`: a page with the sign-out button (signing out is a POST).
#[component]
pub fn LogoutPage() -> impl IntoView {
    let product = product_name();
    view! {
        <Title text=format!("Sign out — {product}") />
        <AuthCard heading="Sign out">
            <form method="post" action="/api/logout">
                <button type="submit" class=BUTTON>"Sign out"</button>
            </form>
        </AuthCard>
    }
}

/// `/verify?token=…`: confirms the email with one click.
#[component]
pub fn VerifyPage() -> impl IntoView {
    let product = product_name();
    let feedback = FormFeedback::from_address();
    let token = query_value("token").unwrap_or_default();
    view! {
        <Title text=format!("Confirm your email — {product}") />
        <AuthCard heading="Confirm your email">
            <FormSummary feedback=feedback.clone() />
            <form method="post" action="/api/verify_email">
                <input type="hidden" name="token" value=token />
                <button type="submit" class=BUTTON>"Confirm my email"</button>
            </form>
        </AuthCard>
    }
}

/// `/forgot-password`.
#[component]
pub fn ForgotPasswordPage() -> impl IntoView {
    let product = product_name();
    let feedback = FormFeedback::from_address();
    let sent = query_value("sent").is_some();
    view! {
        <Title text=format!("Reset your password — {product}") />
        <AuthCard heading="Reset your password">
            {sent
                .then(|| {
                    view! {
                        <Notice message="If an account exists for that address, we sent it a link to choose a new password. The link works for one hour.".to_owned() />
                    }
                })}
            <form method="post" action="/api/forgot_password" class="space-y-4" novalidate>
                <FormSummary feedback=feedback.clone() />
                <TextField name="email" label="Email" input_type="email" autocomplete="email" feedback=feedback.clone() autofocus=true />
                <button type="submit" class=BUTTON>"Email me a reset link"</button>
            </form>
        </AuthCard>
    }
}

/// `/reset-password?token=…`.
#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    let product = product_name();
    let feedback = FormFeedback::from_address();
    let token = query_value("token").unwrap_or_default();
    view! {
        <Title text=format!("Choose a new password — {product}") />
        <AuthCard heading="Choose a new password">
            <form method="post" action="/api/reset_password" class="space-y-4" novalidate>
                <FormSummary feedback=feedback.clone() />
                <input type="hidden" name="token" value=token />
                <TextField name="password" label="New password" input_type="password" autocomplete="new-password" hint="At least 12 characters." feedback=feedback.clone() autofocus=true />
                <button type="submit" class=BUTTON>"Save password and sign in"</button>
            </form>
        </AuthCard>
    }
}

/// `/dev/mailbox`: on local runs without SMTP, the emails Gatehouse would
/// have sent, so a newcomer can follow the confirmation link.
#[component]
pub fn DevMailboxPage() -> impl IntoView {
    let mailbox = OnceResource::new(crate::email::api::get_dev_mailbox());
    view! {
        <Title text="Local mailbox" />
        <Meta name="robots" content="noindex" />
        <main id="main" class="mx-auto max-w-3xl space-y-6 px-4 py-10">
            <h1 class="text-3xl font-bold tracking-tight">"Local mailbox"</h1>
            <p class="text-slate-600">
                "No mail server is configured, so email stays in the outbox. This page exists only on local runs."
            </p>
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {Suspend::new(async move {
                    match mailbox.await {
                        Ok(emails) if emails.is_empty() => view! { <p>"No email yet."</p> }.into_any(),
                        Ok(emails) => {
                            emails
                                .into_iter()
                                .map(|email| {
                                    let body = linkify(&email.text_body);
                                    view! {
                                        <article class="rounded-xl border border-slate-200 p-4" data-email=email.to_address.clone()>
                                            <h2 class="font-semibold">{email.subject}</h2>
                                            <p class="text-sm text-slate-600">
                                                {format!("To {} · {} · {}", email.to_address, email.status, email.created_at)}
                                            </p>
                                            <div class="mt-3 whitespace-pre-wrap text-sm">{body}</div>
                                        </article>
                                    }
                                })
                                .collect_view()
                                .into_any()
                        }
                        Err(error) => view! { <ErrorNotice error /> }.into_any(),
                    }
                })}
            </Suspense>
        </main>
    }
}

/// Turns the http(s) URLs of a plain-text email into links.
fn linkify(text: &str) -> Vec<AnyView> {
    text.split_inclusive(char::is_whitespace)
        .map(|word| {
            let trimmed = word.trim_end();
            if trimmed.starts_with("http://") || trimmed.starts_with("https://") {
                let tail = word[trimmed.len()..].to_owned();
                view! { <a href=trimmed.to_owned() class="text-brand underline">{trimmed.to_owned()}</a>{tail} }
                    .into_any()
            } else {
                word.to_owned().into_any()
            }
        })
        .collect()
}
