import { expect, Page } from "@playwright/test";

// Steps the billing journeys share (end2end/tests and end2end/balanced).
export const password = "correct horse battery";

export async function signUp(page: Page, email: string, company: string) {
  await page.goto("/signup?plan=starter&cycle=monthly");
  await page.getByLabel("Work email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByLabel("Company name").fill(company);
  await page.getByRole("button", { name: "Start free trial" }).click();
  await expect(page.getByRole("heading", { name: "Check your email" })).toBeVisible();
  await page.goto("/app/billing");
  await expect(page.locator("[data-billing-status]")).toHaveAttribute("data-billing-status", "trialing");
}

export async function checkout(page: Page, tier: string, card: string) {
  await page.getByLabel("Plan", { exact: true }).selectOption(tier);
  await page.getByRole("button", { name: "Continue to payment" }).click();
  await expect(page).toHaveURL(/\/billing\/sandbox\/checkout\/cs_sbx_/);
  await expect(page.getByText("Test mode — no real payment")).toBeVisible();
  await page.getByLabel("Test card number").fill(card);
  await page.getByRole("button", { name: "Pay (test mode)" }).click();
}

/// Invoices arrive through the provider-event jobs a moment after the action.
export async function expectInvoice(page: Page, count: number) {
  await expect
    .poll(
      async () => {
        await page.goto("/app/billing");
        return page.locator("[data-invoice]").count();
      },
      { timeout: 10_000 },
    )
    .toBe(count);
}

