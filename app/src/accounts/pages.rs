//! Sign-up, sign-in and recovery pages. Every form is a plain HTML form that
//! posts to its server function, so all of them work without JavaScript.

use crate::catalog::domain::BillingCycle;
use crate::error::AppError;
use crate::portal::api::get_invitation;
use crate::ui::form::{FormFeedback, FormSummary, Notice, TextField};
use crate::ui::{ErrorNotice, SiteFooter, SiteHeader, product_name};
use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::hooks::use_query_map;

fn query_value(name: &str) -> Option<String> {
    use_query_map().with_untracked(|q| q.get(name))
}

/// A centred card for an account form.
#[component]
fn AuthCard(
    /// The page heading.
    heading: &'static str,
    /// The card's content.
    children: Children,
) -> impl IntoView {
    view! {
        <Meta name="robots" content="noindex" />
        <SiteHeader />
        <main id="main" class="mx-auto max-w-md px-4 py-16">
            <h1 class="text-3xl font-bold tracking-tight">{heading}</h1>
            <div class="mt-8 space-y-6">{children()}</div>
        </main>
        <SiteFooter />
    }
}

const BUTTON: &str = "w-full rounded-md bg-brand px-4 py-2 font-semibold text-white hover:opacity-90";

/// `/signup?plan=…&cycle=…`: starts a free trial.
#[component]
pub fn SignupPage() -> impl IntoView {
    let product = product_name();
    let feedback = FormFeedback::from_address();
    let plan = query_value("plan").unwrap_or_default();
    let cycle = BillingCycle::from_query(query_value("cycle").as_deref());
    let plan_note = (!plan.is_empty()).then(|| {
        let name = plan.replace(['_', '-'], " ");
        format!("You chose the {name} plan, billed {}.", cycle.as_str())
    });
    view! {
        <Title text=format!("Start your free trial — {product}") />
        <AuthCard heading="Start your free trial">
            <p class="text-slate-600">"No card needed. Cancel any time."</p>
            {plan_note.map(|note| view! { <p class="text-slate-700" data-chosen-plan>{note}</p> })}
            <form method="post" action="/api/signup" class="space-y-4" novalidate>
                <FormSummary feedback=feedback.clone() />
                <input type="hidden" name="plan" value=plan.clone() />
                <input type="hidden" name="cycle" value=cycle.as_str() />
                <TextField name="email" label="Work email" input_type="email" autocomplete="email" feedback=feedback.clone() autofocus=true />
                <TextField name="password" label="Password" input_type="password" autocomplete="new-password" hint="At least 12 characters." feedback=feedback.clone() />
                <TextField name="company" label="Company name" autocomplete="organization" feedback=feedback.clone() />
                <button type="submit" class=BUTTON>"Start free trial"</button>
            </form>
            <p class="text-sm text-slate-600">
                "Already have an account? " <a href="/login" class="underline">"Sign in"</a>
            </p>
        </AuthCard>
    }
}

/// `/signup/check-email`: after signup, whatever happened.
#[component]
pub fn CheckEmailPage() -> impl IntoView {
    let product = product_name();
    view! {
        <Title text=format!("Check your email — {product}") />
        <AuthCard heading="Check your email">
            <p class="text-slate-700">
                "We sent you an email. Follow its link to confirm your address; you can start using your trial right away."
            </p>
            <a href="/app" class="block rounded-md bg-brand px-4 py-2 text-center font-semibold text-white">
                "Continue to your account"
            </a>
        </AuthCard>
    }
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

/// `/invite?token=…`: accept an invitation.
#[component]
pub fn InvitePage() -> impl IntoView {
    let product = product_name();
    let feedback = FormFeedback::from_address();
    let token = query_value("token").unwrap_or_default();
    let here = format!("/invite?token={}", crate::ui::encode_query_value(&token));
    view! {
        <Title text=format!("Join your team — {product}") />
        <AuthCard heading="Join your team">
            <FormSummary feedback=feedback.clone() />
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {Suspend::new(async move {
                    let token = token.clone();
                    match get_invitation(token.clone()).await {
                        Ok(invite) => {
                            let intro = format!(
                                "You are invited to join {} on {product} as {}.",
                                invite.organization_name,
                                invite.role.as_str(),
                            );
                            let signed_in_as_invited = invite.signed_in_as.as_deref() == Some(invite.email.as_str());
                            let form = if signed_in_as_invited || !invite.account_exists && invite.signed_in_as.is_none() {
                                let needs_password = !signed_in_as_invited;
                                view! {
                                    <form method="post" action="/api/accept_invitation" class="space-y-4" novalidate>
                                        <input type="hidden" name="token" value=token.clone() />
                                        {needs_password
                                            .then(|| {
                                                view! {
                                                    <p class="text-slate-700">{format!("Choose a password for {}.", invite.email)}</p>
                                                    <TextField name="password" label="Password" input_type="password" autocomplete="new-password" hint="At least 12 characters." feedback=feedback.clone() />
                                                }
                                            })}
                                        <button type="submit" class=BUTTON>
                                            {format!("Join {}", invite.organization_name)}
                                        </button>
                                    </form>
                                }
                                    .into_any()
                            } else {
                                let next = crate::ui::encode_query_value(&here);
                                view! {
                                    <p class="text-slate-700">
                                        {format!("Sign in as {} to accept.", invite.email)}
                                    </p>
                                    <a href=format!("/login?next={next}") class="block rounded-md bg-brand px-4 py-2 text-center font-semibold text-white">
                                        "Sign in to accept"
                                    </a>
                                }
                                    .into_any()
                            };
                            view! {
                                <p class="text-slate-700">{intro}</p>
                                {form}
                            }
                                .into_any()
                        }
                        Err(AppError::NotFound) => {
                            view! {
                                <p class="text-slate-700">
                                    "This invitation has expired, was withdrawn or was already used. Ask your team for a new one."
                                </p>
                            }
                                .into_any()
                        }
                        Err(error) => view! { <ErrorNotice error /> }.into_any(),
                    }
                })}
            </Suspense>
        </AuthCard>
    }
}

/// `/dev/mailbox`: on local runs without SMTP, the emails Gatehouse would
/// have sent, so a newcomer can follow the confirmation link.
#[component]
pub fn DevMailboxPage() -> impl IntoView {
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
                    match crate::email::api::get_dev_mailbox().await {
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
