//! The console's sign-in: password, then the second factor (enrolled on
//! the first sign-in), then the recovery codes once.

use super::api::{get_enrolment, get_fresh_recovery_codes};
use crate::ui::auth_card::{AuthCard, BUTTON};
use crate::ui::form::{FormFeedback, FormSummary, TextField};
use leptos::prelude::*;
use leptos_meta::Title;

/// `/admin/login`.
#[component]
pub fn AdminLoginPage() -> impl IntoView {
    let feedback = FormFeedback::from_address();
    view! {
        <Title text="Admin sign-in — Gatehouse" />
        <AuthCard heading="Admin console">
            <p class="text-slate-700">"For platform admins. Customers sign in at " <a href="/login" class="underline">"the customer sign-in"</a> "."</p>
            <form method="post" action="/api/admin_login" class="space-y-4" novalidate>
                <FormSummary feedback=feedback.clone() />
                <TextField name="email" label="Email" input_type="email" autocomplete="username" feedback=feedback.clone() autofocus=true />
                <TextField name="password" label="Password" input_type="password" autocomplete="current-password" feedback=feedback.clone() />
                <button type="submit" class=BUTTON>"Continue"</button>
            </form>
        </AuthCard>
    }
}

/// `/admin/enroll`: the first sign-in sets up the second factor.
#[component]
pub fn AdminEnrollPage() -> impl IntoView {
    let feedback = FormFeedback::from_address();
    let enrolment = OnceResource::new(get_enrolment());
    view! {
        <Title text="Set up your second factor — Gatehouse" />
        <AuthCard heading="Set up your second factor">
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {Suspend::new(async move {
                    let feedback = feedback.clone();
                    crate::admin::frame::admin_outcome(enrolment.await, move |enrolment| view! {
                        <p class="text-slate-700">
                            "Scan this code with an authenticator app (1Password, Google Authenticator, …) for "
                            <strong>{enrolment.email.clone()}</strong> ", then type the six-digit code it shows."
                        </p>
                        // The SVG is ours (made by the qrcode crate from the otpauth address), not user input.
                        <div class="mx-auto w-52" role="img" aria-label="QR code of the authenticator secret" inner_html=enrolment.qr_svg.clone()></div>
                        <p id="secret-text" class="text-sm text-slate-700">
                            "Or type this secret in: " <code data-secret class="break-all font-mono">{enrolment.secret.clone()}</code>
                        </p>
                        <form method="post" action="/api/admin_enrol" class="space-y-4" novalidate>
                            <FormSummary feedback=feedback.clone() />
                            <TextField name="code" label="Code from the app" autocomplete="one-time-code" feedback=feedback.clone() autofocus=true />
                            <button type="submit" class=BUTTON>"Confirm"</button>
                        </form>
                    })
                })}
            </Suspense>
        </AuthCard>
    }
}

/// `/admin/verify`: the second step of every later sign-in.
#[component]
pub fn AdminVerifyPage() -> impl IntoView {
    let feedback = FormFeedback::from_address();
    view! {
        <Title text="Second factor — Gatehouse" />
        <AuthCard heading="Second factor">
            <form method="post" action="/api/admin_verify" class="space-y-4" novalidate>
                <FormSummary feedback=feedback.clone() />
                <TextField
                    name="code"
                    label="Code"
                    hint="The six digits your authenticator app shows, or one of your recovery codes."
                    autocomplete="one-time-code"
                    feedback=feedback.clone()
                    autofocus=true
                />
                <button type="submit" class=BUTTON>"Sign in"</button>
            </form>
        </AuthCard>
    }
}

/// `/admin/recovery-codes`: the codes made at enrolment, shown this once.
#[component]
pub fn AdminRecoveryCodesPage() -> impl IntoView {
    let codes = OnceResource::new(get_fresh_recovery_codes());
    view! {
        <Title text="Recovery codes — Gatehouse" />
        <AuthCard heading="Your recovery codes">
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {Suspend::new(async move {
                    crate::admin::frame::admin_outcome(codes.await, |codes| {
                        if codes.is_empty() {
                            return view! {
                                <p>"Recovery codes are shown once, right after enrolment. " <a href="/admin" class="underline">"Go to the console"</a></p>
                            }
                            .into_any();
                        }
                        view! {
                            <p class="text-slate-700">"Each works once if you lose your authenticator. Keep them somewhere safe: they are not shown again."</p>
                            <ul class="grid grid-cols-2 gap-2 font-mono" data-recovery-codes>
                                {codes.into_iter().map(|code| view! { <li>{code}</li> }).collect_view()}
                            </ul>
                            <a href="/admin" class=BUTTON>"I have saved them"</a>
                        }
                        .into_any()
                    })
                })}
            </Suspense>
        </AuthCard>
    }
}
