//! The signup pages: the form that starts a free trial, and what comes after.

use crate::catalog::domain::BillingCycle;
use crate::ui::auth_card::{AuthCard, BUTTON};
use crate::ui::form::{FormFeedback, FormSummary, TextField};
use crate::ui::{product_name, query_value};
use leptos::prelude::*;
use leptos_meta::Title;

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
