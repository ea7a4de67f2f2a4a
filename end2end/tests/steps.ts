import { expect, Page } from "@playwright/test";
import { createHmac } from "node:crypto";

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


/** RFC 6238 (SHA-1, 6 digits, 30 s) from a base32 secret, as an authenticator app computes it. */
export function totp(base32: string, at = Date.now()): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of base32.replace(/=+$/, "").toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)));
  const mac = createHmac("sha1", key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return value.toString().padStart(6, "0");
}
