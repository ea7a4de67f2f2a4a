//! `/invite?token=…`: the page an invitation link opens.

use super::api::get_invitation;
use crate::error::AppError;
use crate::ui::auth_card::{AuthCard, BUTTON};
use crate::ui::form::{FormFeedback, FormSummary, TextField};
use crate::ui::{ErrorNotice, product_name, query_value};
use leptos::prelude::*;
use leptos_meta::Title;

/// `/invite?token=…`: accept an invitation.
#[component]
pub fn InvitePage() -> impl IntoView {
    let product = product_name();
    let feedback = FormFeedback::from_address();
    let token = query_value("token").unwrap_or_default();
    let here = format!("/invite?token={}", crate::ui::encode_query_value(&token));
    let invitation = OnceResource::new(get_invitation(token.clone()));
    view! {
        <Title text=format!("Join your team — {product}") />
        <AuthCard heading="Join your team">
            <FormSummary feedback=feedback.clone() />
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {Suspend::new(async move {
                    let token = token.clone();
                    match invitation.await {
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
