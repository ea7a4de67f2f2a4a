import { expect, Page, test } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { linkIn, waitForEmail } from "./mail";

test.skip(({ javaScriptEnabled }) => !javaScriptEnabled, "runs in the JavaScript project");

const password = "correct horse battery";

async function signUp(page: Page, email: string, company: string, plan = "starter") {
  await page.goto(`/signup?plan=${plan}&cycle=monthly`);
  await page.getByLabel("Work email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByLabel("Company name").fill(company);
  await page.getByRole("button", { name: "Start free trial" }).click();
  await expect(page.getByRole("heading", { name: "Check your email" })).toBeVisible();
}

async function leaveTrialDays(page: Page, days: number) {
  await page.goto("/app/billing");
  await page.getByLabel("Trial days left").fill(String(days));
  await page.getByRole("button", { name: "Make the rest of the trial pass" }).click();
  await expect(page).toHaveURL(/trial_moved=1/);
}

const banner = (page: Page) => page.locator('[data-banner="trial"]');

test("the trial banner is calm at 10 days, a warning at 5, urgent at 1, and a dismissal lasts the day", async ({
  page,
  context,
}) => {
  await signUp(page, "banner@entitlements-e2e.test", "Banner Works");
  for (const [days, urgency, text] of [
    [10, "calm", "10 days left"],
    [5, "warning", "5 days left"],
    [1, "urgent", "1 day left"],
  ] as const) {
    await leaveTrialDays(page, days);
    for (const path of ["/app", "/app/team"]) {
      await page.goto(path);
      await expect(banner(page)).toHaveAttribute("data-urgency", urgency);
      await expect(banner(page)).toContainText(text);
      await expect(banner(page).getByRole("link", { name: "Choose a plan" })).toHaveAttribute("href", "/app/billing");
    }
  }

  await page.goto("/app/team");
  await banner(page).getByRole("button", { name: "Dismiss for today" }).click();
  await expect(page).toHaveURL(/\/app\/team$/);
  await expect(banner(page)).toHaveCount(0);
  await page.goto("/app");
  await expect(banner(page)).toHaveCount(0);

  // The next day: the cookie still says the day it was dismissed, which is now yesterday.
  const cookies = await context.cookies();
  const dismissed = cookies.find((c) => c.name === "gatehouse_trial_banner_dismissed");
  expect(dismissed?.value).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  const yesterday = new Date(Date.parse(`${dismissed!.value}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
  await context.addCookies([{ ...dismissed!, value: yesterday }]);
  await page.goto("/app");
  await expect(banner(page)).toHaveAttribute("data-urgency", "urgent");
});

test("after the trial ends the portal is read-only and says why", async ({ page }) => {
  await signUp(page, "readonly@entitlements-e2e.test", "Read Only Works");
  await page.goto("/app/billing");
  await page.getByRole("button", { name: "End the trial now" }).click();
  const readOnly = page.locator('[data-banner="read_only"]');
  await page.goto("/app/team");
  await expect(readOnly).toHaveAttribute("data-reason", "trial_ended");
  await expect(readOnly).toContainText("Your free trial has ended");
  await page.getByLabel("Email address").fill("someone@entitlements-e2e.test");
  await page.getByRole("button", { name: "Send invitation" }).click();
  await expect(page.locator("form").getByRole("alert")).toContainText("Your free trial has ended");
});

test("usage reported by the host product shows as bars against the limits", async ({ page, request }) => {
  await signUp(page, "usage@entitlements-e2e.test", "Usage Works", "professional");
  const key = execFileSync("target/debug/server", ["create-api-key", "--name", "e2e", "--scope", "write"], {
    env: { ...process.env, DATABASE_URL: process.env.GATEHOUSE_E2E_DATABASE_URL },
    encoding: "utf8",
  }).trim();
  expect(key).toMatch(/^gk_[0-9a-f]{8}_/);
  const headers = { authorization: `Bearer ${key}` };
  const list = await request.get("/api/v1/organizations?limit=100", { headers });
  expect(list.status()).toBe(200);
  const org = (await list.json()).data.find((o: { name: string }) => o.name === "Usage Works");
  const reported = await request.post(`/api/v1/organizations/${org.id}/usage`, {
    headers,
    data: { reports: [{ id: "e2e-ws", metric: "workspaces", set: 4 }, { id: "e2e-gb", metric: "storage_gb", set: 100 }] },
  });
  expect(reported.status()).toBe(200);

  await page.goto("/app/billing");
  const usage = page.getByRole("region", { name: "Usage" });
  await expect(usage.locator('[data-usage="workspaces"]')).toHaveAttribute("data-level", "warning");
  await expect(usage.locator('[data-usage="workspaces"]')).toContainText("4 of 5 workspaces");
  await expect(usage.locator('[data-usage="storage_gb"]')).toHaveAttribute("data-level", "at_limit");
  await expect(usage.locator('[data-usage="users"]')).toHaveAttribute("data-level", "calm");
  await expect(usage.getByRole("meter", { name: "Workspaces" })).toHaveAttribute("value", "80");
});

test("a member of two organisations switches between them", async ({ page, browser }) => {
  await signUp(page, "two@entitlements-e2e.test", "First Org");
  const other = await browser.newContext();
  const otherPage = await other.newPage();
  await signUp(otherPage, "owner@entitlements-e2e.test", "Second Org");
  await otherPage.goto("/app/team");
  await otherPage.getByLabel("Email address").fill("two@entitlements-e2e.test");
  await otherPage.getByRole("button", { name: "Send invitation" }).click();
  await other.close();

  const invitation = await waitForEmail("two@entitlements-e2e.test", "invit");
  await page.goto(linkIn(invitation));
  await page.getByRole("button", { name: /Join Second Org/ }).click();
  await expect(page.getByText("Welcome to the team!")).toBeVisible();

  const switcher = page.locator("[data-org-switcher]");
  await expect(switcher.getByLabel("Organisation")).toHaveValue(/.+/);
  await expect(switcher.locator("option:checked")).toHaveText("Second Org");
  await switcher.getByLabel("Organisation").selectOption({ label: "First Org" });
  await switcher.getByRole("button", { name: "Switch" }).click();
  await expect(page.locator("[data-org-switcher] option:checked")).toHaveText("First Org");
});
