//! The browser entry point: wakes the islands that the server rendered.

/// Called by Leptos's island loader once the WebAssembly module is ready.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Pulls the islands into this crate's exports so the loader finds them.
    #[expect(unused_imports, reason = "islands register themselves by being linked")]
    use app::marketing::PricingPlans;
    leptos::mount::hydrate_islands();
}
