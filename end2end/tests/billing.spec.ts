import { expect, test } from "@playwright/test";
import { linkIn, waitForEmail } from "./mail";

test.skip(({ javaScriptEnabled }) => !javaScriptEnabled, "runs in the JavaScript project");

import { checkout, expectInvoice, signUp } from "./steps";

test("trial → checkout → active → upgrade with preview → add a seat → annual → cancel → resume", async ({ page }) => {
  await signUp(page, "pay@billing-e2e.test", "Billing Works");

  // Checkout: the trial carries over, so nothing is charged yet.
  await checkout(page, "starter", "4242 4242 4242 4242");
  await expect(page.locator("[data-checkout-complete]")).toHaveText("You are subscribed to Starter");
  await page.getByRole("link", { name: "Go to billing" }).click();
  await expect(page.locator("[data-billing-status]")).toHaveAttribute("data-billing-status", "trialing");
  await expect(page.getByText("Test card ending 4242")).toBeVisible();

  // The trial ends: the first invoice is paid and the subscription is active.
  await page.getByRole("button", { name: "End the current period now" }).click();
  await expect(page.locator("[data-billing-status]")).toHaveAttribute("data-billing-status", "active");
  await expectInvoice(page, 1);
  await expect(page.locator("[data-invoice-status]").first()).toHaveText("paid");

  // The invoice has a printable page and a PDF.
  await page.locator("[data-invoice] a").first().click();
  await expect(page.locator("[data-invoice-number]")).toHaveText(/Invoice SBX-\d{6}/);
  await expect(page.locator("[data-invoice-total]")).toHaveText("$49.00");
  // Paid: nothing is left to pay, as Stripe's hosted invoice says.
  await expect(page.locator("[data-amount-remaining]")).toHaveText("$0.00");
  const pdf = await page.request.get(page.url() + "/pdf");
  expect(pdf.status()).toBe(200);
  expect(pdf.headers()["content-type"]).toBe("application/pdf");
  expect((await pdf.body()).subarray(0, 5).toString()).toBe("%PDF-");
  await page.goto("/app/billing");

  // Upgrade to Professional: previewed with the prorated amount, then paid.
  await page.getByLabel("Plan", { exact: true }).selectOption("professional");
  await page.getByRole("button", { name: "Review change" }).click();
  await expect(page.locator("[data-change-to]")).toHaveText("Professional, billed monthly");
  await expect(page.locator("[data-amount-due]")).toHaveText(/^\$1[0-5]\d\.\d\d$/);
  await page.getByRole("button", { name: "Confirm and pay" }).click();
  await expect(page.getByText("Your plan was changed.")).toBeVisible();
  await expect(page.locator("[data-billing-plan]")).toHaveText("Professional");
  await expectInvoice(page, 2);

  // Add a seat: one extra user.
  await page.getByLabel(/Extra user/).fill("1");
  await page.getByRole("button", { name: "Review change" }).click();
  await expect(page.locator("[data-change-to]")).toHaveText("Professional, billed monthly, with 1 × Extra user");
  await page.getByRole("button", { name: "Confirm and pay" }).click();
  await expect(page.locator("[data-billing-users]")).toHaveText("1 of 26");

  // Switch to annual billing: a new yearly period starts now.
  await page.getByLabel("Annual").check();
  await page.getByRole("button", { name: "Review change" }).click();
  await expect(page.locator("[data-change-to]")).toHaveText("Professional, billed annual, with 1 × Extra user");
  await page.getByRole("button", { name: "Confirm and pay" }).click();
  await expect(page.locator("[data-billing-cycle]")).toHaveText("annual");

  // A downgrade waits for the period's end.
  await page.getByLabel("Plan", { exact: true }).selectOption("starter");
  await page.getByRole("button", { name: "Review change" }).click();
  await expect(page.locator("[data-change-later]")).toContainText("Nothing is charged today");
  await page.getByRole("button", { name: "Confirm change" }).click();
  await expect(page.locator("[data-scheduled-change]")).toContainText("Changes to Starter (annual)");
  await expect(page.locator("[data-billing-plan]")).toHaveText("Professional");

  // Cancel at period end, then resume.
  await page.getByRole("button", { name: "Cancel at period end" }).click();
  await expect(page.locator("[data-cancel-notice]")).toContainText("Your subscription ends on");
  await page.getByRole("button", { name: "Resume subscription" }).click();
  await expect(page.getByText("Your subscription will continue.")).toBeVisible();
  await expect(page.locator("[data-cancel-notice]")).toHaveCount(0);
  await expect(page.locator("[data-billing-status]")).toHaveAttribute("data-billing-status", "active");
});

test("a card whose charges fail leads to past_due, and a working card recovers it", async ({ page }) => {
  await signUp(page, "fail@billing-e2e.test", "Failing Cards");

  // A declined card is refused at checkout, beside the field.
  await checkout(page, "starter", "4000 0000 0000 0002");
  await expect(page.getByRole("alert")).toContainText("declined");

  // A card that attaches but fails later: fine during the trial…
  await page.getByLabel("Test card number").fill("4000 0000 0000 0341");
  await page.getByRole("button", { name: "Pay (test mode)" }).click();
  await expect(page.locator("[data-checkout-complete]")).toBeVisible();
  await page.goto("/app/billing");

  // …until the trial ends and the first charge fails.
  await page.getByRole("button", { name: "End the current period now" }).click();
  await expect(page.locator("[data-billing-status]")).toHaveAttribute("data-billing-status", "past_due");
  await expect(page.getByRole("alert")).toContainText("Your last payment failed");
  await expectInvoice(page, 1);
  await expect(page.locator("[data-invoice-status]").first()).toHaveText("open");

  // A working card pays the open invoice and the subscription is active again.
  await page.getByRole("button", { name: "Manage payment methods" }).click();
  await page.getByLabel("Test card number").fill("4242424242424242");
  await page.getByRole("button", { name: "Save card" }).click();
  await expect
    .poll(
      async () => {
        await page.goto("/app/billing");
        return page.locator("[data-billing-status]").getAttribute("data-billing-status");
      },
      { timeout: 10_000 },
    )
    .toBe("active");
  await expect(page.locator("[data-invoice-status]").first()).toHaveText("paid");
});

test.describe("the collection ladder", () => {
  // A client address of its own, so its signup does not spend the other specs' budget.
  test.use({ extraHTTPHeaders: { "x-forwarded-for": "203.0.113.25" } });

test("a failed payment climbs the collection ladder: the banner's facts, the restriction, and back to active", async ({
  page,
}) => {
  await signUp(page, "ladder@billing-e2e.test", "Ladder Works");
  await checkout(page, "starter", "4000 0000 0000 0341");
  await expect(page.locator("[data-checkout-complete]")).toBeVisible();
  await page.goto("/app/billing");

  // The first charge fails: the banner says how much, which attempt and what comes next.
  await page.getByRole("button", { name: "End the current period now" }).click();
  await expect(page.locator("[data-billing-status]")).toHaveAttribute("data-billing-status", "past_due");
  await expect
    .poll(
      async () => {
        await page.goto("/app");
        return (await page.locator('[data-banner="past_due"]').textContent()) ?? "";
      },
      { timeout: 10_000 },
    )
    .toContain("Payment of $49.00 failed (attempt 1)");
  const banner = page.locator('[data-banner="past_due"]');
  await expect(banner).toContainText("We retry on");
  await expect(banner).toContainText("turns read-only on");
  const email = await waitForEmail("ladder@billing-e2e.test", "Payment of $49.00 failed (attempt 1)");
  expect(email.text).toContain("Update payment method");

  // The grace period runs out: the account is read-only, and says why.
  await page.goto("/app/billing");
  await page.getByRole("button", { name: "Skip the grace period" }).click();
  await page.goto("/app");
  const readOnly = page.locator('[data-banner="read_only"]');
  await expect(readOnly).toHaveAttribute("data-reason", "payment_overdue");
  await expect(readOnly).toContainText("$49.00 is due.");
  await waitForEmail("ladder@billing-e2e.test", "Your Forgeline account is now read-only");

  // A working card pays it: restored at once.
  await page.goto("/app/billing");
  await page.getByRole("button", { name: "Manage payment methods" }).click();
  await page.getByLabel("Test card number").fill("4242424242424242");
  await page.getByRole("button", { name: "Save card" }).click();
  await expect
    .poll(
      async () => {
        await page.goto("/app/billing");
        return page.locator("[data-billing-status]").getAttribute("data-billing-status");
      },
      { timeout: 10_000 },
    )
    .toBe("active");
  await expect
    .poll(
      async () => {
        await page.goto("/app");
        return page.locator('[data-banner="read_only"], [data-banner="past_due"]').count();
      },
      { timeout: 10_000 },
    )
    .toBe(0);
  await waitForEmail("ladder@billing-e2e.test", "Payment received: Forgeline is fully available again");
});
});

test("a trial that ends without a subscription pauses the account, and subscribing brings it back", async ({ page }) => {
  await signUp(page, "lapse@billing-e2e.test", "Lapsed Trials");

  // Test mode makes the trial's days run out now.
  await page.getByRole("button", { name: "End the trial now" }).click();
  await expect(page.locator("[data-billing-status]")).toHaveAttribute("data-billing-status", "paused");
  await expect(page.locator("[data-trial-ended]")).toContainText("choose a plan below to continue");
  const notice = await waitForEmail("lapse@billing-e2e.test", "trial has ended");
  expect(linkIn(notice)).toMatch(/\/app\/billing$/);

  // No trial days are left to carry over: the first invoice is paid at once.
  await checkout(page, "starter", "4242 4242 4242 4242");
  await expect(page.locator("[data-checkout-complete]")).toHaveText("You are subscribed to Starter");
  await page.getByRole("link", { name: "Go to billing" }).click();
  await expect(page.locator("[data-billing-status]")).toHaveAttribute("data-billing-status", "active");
  await expect(page.locator("[data-trial-ended]")).toHaveCount(0);
  await expectInvoice(page, 1);
  await expect(page.locator("[data-invoice-status]").first()).toHaveText("paid");
});
