//! The classes every table shares, so a column's header lines up with its
//! cells: text to the left, figures to the right in tabular digits, and every
//! cell of a row (its header included) set from the top.

/// A column header over text.
pub const TH: &str =
    "py-2 pr-4 text-left align-bottom text-xs font-semibold uppercase tracking-wide text-slate-600";
/// A column header over figures (money, counts, rates).
pub const TH_NUM: &str =
    "py-2 pr-4 text-right align-bottom text-xs font-semibold uppercase tracking-wide text-slate-600";
/// A row's header cell (`<th scope="row">`).
pub const ROW_TH: &str = "py-2 pr-4 text-left align-top font-normal";
/// A cell of text.
pub const TD: &str = "py-2 pr-4 text-left align-top";
/// A cell holding a figure.
pub const TD_NUM: &str = "py-2 pr-4 text-right align-top tabular-nums whitespace-nowrap";

/// What an empty list or table says instead: what would appear there, and
/// when. The page sweep fails on a list or table body with nothing in it.
#[leptos::component]
pub fn EmptyState(
    /// The sentence.
    message: &'static str,
) -> impl leptos::IntoView {
    use leptos::prelude::*;
    view! { <p class="mt-2 text-sm text-slate-700" data-empty>{message}</p> }
}

/// A table too wide for a phone, scrolled sideways inside its own region:
/// keyboard users reach it with Tab and scroll it with the arrow keys, and
/// a screen reader announces it by `label` (", scrolls sideways" added).
#[leptos::component]
pub fn ScrollRegion(
    /// What the region holds, such as "Organisations, newest first".
    #[prop(into)]
    label: String,
    /// The table.
    children: leptos::prelude::Children,
) -> impl leptos::IntoView {
    use leptos::prelude::*;
    view! {
        <div class="relative overflow-x-auto" tabindex="0" role="region" aria-label=format!("{label}, scrolls sideways")>
            {children()}
        </div>
    }
}
