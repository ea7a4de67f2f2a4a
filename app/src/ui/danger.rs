//! Actions that are hard to undo (suspend, revoke, disable, remove, leave):
//! red, and sent only once a box stating the consequence is ticked. The
//! browser holds the form until then, with or without JavaScript; the
//! server function refuses it without the tick ([`confirmed`]), so a form
//! built by hand cannot skip the question either.

use crate::error::AppError;
use leptos::prelude::*;

/// A button whose action is hard to undo.
pub const DANGER_BUTTON: &str =
    "rounded-md bg-red-700 px-3 py-2 text-sm font-semibold text-white hover:bg-red-800";

/// The value the confirmation box sends once ticked.
pub const CONFIRMED: &str = "yes";

/// The server's half of the confirmation: the form's `confirm` field must
/// carry the ticked box's value.
pub fn confirmed(confirm: Option<&str>) -> Result<(), AppError> {
    match confirm.map(str::trim) {
        Some(CONFIRMED) => Ok(()),
        _ => Err(AppError::field(
            "confirm",
            "tick the box to confirm: this is hard to undo",
        )),
    }
}

/// The tick box that states the consequence, and the red button; goes
/// inside a form whose server function calls [`confirmed`].
#[component]
pub fn ConfirmDanger(
    /// A page-unique id for the tick box.
    id: String,
    /// What happens, in the words of the person who will live with it.
    consequence: String,
    /// The button's words: the action and its object ("Revoke the key").
    button: String,
) -> impl IntoView {
    view! {
        <div class="flex items-start gap-2 text-sm">
            <input id=id.clone() name="confirm" value=CONFIRMED type="checkbox" required class="mt-1" />
            <label for=id>{consequence}</label>
        </div>
        <button type="submit" class=DANGER_BUTTON>{button}</button>
    }
}

/// A danger action in a row of a table or list: its name in red opens the
/// confirmation (a `<details>`, so no JavaScript is needed), which posts
/// `fields` to `action`.
#[component]
pub fn RowDangerAction(
    /// The server function's address.
    action: &'static str,
    /// Hidden fields naming what the action applies to.
    fields: Vec<(&'static str, String)>,
    /// The visible words that open it ("Revoke").
    label: &'static str,
    /// What it applies to, for screen readers ("the key gh_ab12").
    target: String,
    /// What happens.
    consequence: String,
    /// The confirming button's words.
    button: String,
    /// A page-unique id for the tick box.
    id: String,
    /// Extra fields the action needs (a reason), drawn before the tick box.
    #[prop(optional)]
    children: Option<Children>,
) -> impl IntoView {
    view! {
        <details class="text-sm">
            <summary class="cursor-pointer text-red-700 underline">
                {label}
                <span class="sr-only">{format!(" {target}")}</span>
            </summary>
            <form method="post" action=action class="mt-2 space-y-2 rounded-md border border-red-200 bg-red-50 p-3">
                {fields
                    .into_iter()
                    .map(|(name, value)| view! { <input type="hidden" name=name value=value /> })
                    .collect_view()}
                {children.map(|children| children())}
                <ConfirmDanger id consequence button />
            </form>
        </details>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_ticked_box_confirms() {
        assert!(confirmed(Some("yes")).is_ok());
        assert!(confirmed(Some(" yes ")).is_ok());
        // What a missing, unticked, forged or default-valued box sends.
        for refused in [
            None,
            Some(""),
            Some("no"),
            Some("on"),
            Some("true"),
            Some("YES!"),
            Some("y"),
        ] {
            let error = confirmed(refused).expect_err("not confirmed");
            assert_eq!(error.status_code(), 422, "{refused:?}");
        }
    }
}
