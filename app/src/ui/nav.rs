//! A link of a section navigation (the portal's, the console's): the
//! current section's link is marked for screen readers and drawn bold.

use leptos::prelude::*;

/// The bar a navigation sits on, which sets its links' colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NavBar {
    /// A white bar (the portal).
    Light,
    /// A dark bar (the console).
    Dark,
}

impl NavBar {
    fn classes(self, current: bool) -> &'static str {
        match (self, current) {
            (NavBar::Light, true) => "font-semibold text-brand",
            (NavBar::Light, false) => "text-slate-700 hover:text-brand",
            (NavBar::Dark, true) => "font-semibold text-white underline",
            (NavBar::Dark, false) => "text-slate-200 hover:text-white",
        }
    }
}

/// One link of a section navigation, `aria-current="page"` when `href` is
/// the current section.
#[component]
pub fn NavLink(
    /// Where it goes.
    href: &'static str,
    /// Its text.
    label: &'static str,
    /// The current section's path.
    current: &'static str,
    /// The bar it sits on.
    bar: NavBar,
) -> impl IntoView {
    let is_current = href == current;
    view! {
        <a href=href aria-current=is_current.then_some("page") class=bar.classes(is_current)>
            {label}
        </a>
    }
}

#[cfg(test)]
mod tests {
    use super::NavBar;

    #[test]
    fn the_current_link_is_drawn_apart_on_either_bar() {
        for bar in [NavBar::Light, NavBar::Dark] {
            assert_ne!(bar.classes(true), bar.classes(false), "{bar:?}");
            assert!(bar.classes(true).contains("font-semibold"), "{bar:?}");
        }
    }
}
