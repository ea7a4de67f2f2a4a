import { expect, Page, test } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { totp } from "./steps";

test.skip(({ javaScriptEnabled }) => !javaScriptEnabled, "runs in the JavaScript project");

// A client address of its own (the e2e server trusts X-Forwarded-For, as
// behind a proxy), so its signup does not spend the other specs' budget.
const client = { "x-forwarded-for": "203.0.113.13" };
test.use({ extraHTTPHeaders: client });

const password = "correct horse battery";
const axeSource = readFileSync(join(process.cwd(), "node_modules/axe-core/axe.min.js"), "utf8");

async function expectNoSeriousViolations(page: Page) {
  await page.addScriptTag({ content: axeSource });
  const results = await page.evaluate(async () => (window as any).axe.run(document, { resultTypes: ["violations"] }));
  const serious = results.violations.filter((v: any) => v.impact === "serious" || v.impact === "critical");
  expect(serious.map((v: any) => `${v.id}: ${v.help} (${v.nodes.length})`)).toEqual([]);
}

test("an admin enrols a second factor, finds an organisation, extends its trial with a reason and sees it audited", async ({
  page,
  browser,
}) => {
  // A customer to look after.
  const company = `Console Works ${Date.now()}`;
  await page.goto("/signup?plan=starter&cycle=monthly");
  await page.getByLabel("Work email").fill(`owner-${Date.now()}@admin-e2e.test`);
  await page.getByLabel("Password").fill(password);
  await page.getByLabel("Company name").fill(company);
  await page.getByRole("button", { name: "Start free trial" }).click();
  await expect(page.getByRole("heading", { name: "Check your email" })).toBeVisible();

  const email = `root-${Date.now()}@admin-e2e.test`;
  execFileSync("target/debug/server", ["create-admin", "--email", email], {
    env: { ...process.env, DATABASE_URL: process.env.GATEHOUSE_E2E_DATABASE_URL, GATEHOUSE_ADMIN_PASSWORD: password },
  });
  // axe is injected as a script, which the console's CSP rightly forbids.
  const context = await browser.newContext({ bypassCSP: true, extraHTTPHeaders: client });
  const admin = await context.newPage();
  await admin.goto("/admin");
  await expect(admin).toHaveURL(/\/admin\/login$/);
  await admin.getByLabel("Email").fill(email);
  await admin.getByLabel("Password").fill(password);
  await admin.getByRole("button", { name: "Continue" }).click();
  await expect(admin.getByRole("heading", { name: "Set up your second factor" })).toBeVisible();
  await expect(admin.getByRole("img", { name: "QR code of the authenticator secret" })).toBeVisible();
  const secret = (await admin.locator("[data-secret]").textContent())!.trim();
  await admin.getByLabel("Code from the app").fill(totp(secret));
  await admin.getByRole("button", { name: "Confirm" }).click();
  await expect(admin.locator("[data-recovery-codes] li")).toHaveCount(10);
  await admin.getByRole("link", { name: "I have saved them" }).click();
  await expect(admin.getByRole("heading", { name: "Dashboard" })).toBeVisible();
  await expect(admin.locator('[data-figure="organisations"]')).toBeVisible();
  await expectNoSeriousViolations(admin);

  await admin.getByRole("link", { name: "Organisations" }).click();
  await admin.getByLabel("Name, member email or external id").fill(company);
  await admin.getByRole("button", { name: "Search" }).click();
  await admin.getByRole("link", { name: company }).click();
  await expect(admin.getByRole("heading", { name: company })).toBeVisible();
  await expectNoSeriousViolations(admin);
  await admin.getByLabel("Days (1–90)").fill("7");
  await admin.getByLabel("Reason (kept in the audit log)").first().fill("Waiting on their procurement team");
  await admin.getByRole("button", { name: "Extend trial" }).click();
  await expect(admin.getByText("The trial was extended")).toBeVisible();
  await expect(admin.locator('[data-audit="trial.extend"]')).toContainText("Waiting on their procurement team");

  // Impersonation: the owner's portal under a permanent banner, and one click out.
  await admin.getByLabel("Reason (kept in the audit log)").nth(1).fill("Checking what the owner sees");
  await admin.getByRole("button", { name: "Impersonate the owner" }).click();
  await expect(admin).toHaveURL(/\/app$/);
  await expect(admin.locator('[data-banner="impersonation"]')).toContainText(email);
  await admin.getByRole("button", { name: "Exit impersonation" }).click();
  await expect(admin.getByRole("heading", { name: company })).toBeVisible();

  await admin.getByRole("link", { name: "Audit log" }).click();
  await expect(admin.locator('[data-audit="trial.extend"]').first()).toContainText(email);
  await expectNoSeriousViolations(admin);

  await admin.getByRole("link", { name: "Analytics" }).click();
  await expect(admin.getByRole("heading", { name: "Analytics" })).toBeVisible();
  await expect(admin.locator("[data-headline]")).toContainText("MRR");
  await expect(admin.locator('[data-table="months"] tbody tr').first()).toBeVisible();
  await expect(admin.locator("[data-method]")).toContainText("Baremetrics");
  await expectNoSeriousViolations(admin);
  const [download] = await Promise.all([
    admin.waitForEvent("download"),
    admin.getByRole("link", { name: "Months (CSV)" }).click(),
  ]);
  expect(download.suggestedFilename()).toMatch(/^gatehouse-months-\d{4}-\d{2}-to-\d{4}-\d{2}\.csv$/);
  const csv = readFileSync(await download.path(), "utf8");
  expect(csv.split("\n")[0]).toContain("Month,MRR at start,MRR,ARR");

  // A webhook endpoint: added with its secret shown once, then disabled.
  const hook = `https://hooks.example.com/e2e-hooks-${Date.now()}`;
  await admin.getByRole("link", { name: "Webhooks" }).click();
  await admin.getByLabel("URL", { exact: true }).fill(hook);
  await admin.getByLabel("Description", { exact: true }).fill("e2e receiver");
  await admin.getByRole("button", { name: "Add the endpoint" }).click();
  await expect(admin.locator("[data-fresh-secret]")).toContainText("whsec_");
  await expectNoSeriousViolations(admin);
  await admin.getByRole("link", { name: hook }).click();
  await admin.getByLabel(/Events from now on are not sent to it/).check();
  await admin.getByRole("button", { name: "Disable the endpoint" }).click();
  await expect(admin.locator("[data-state]")).toContainText("disabled");
  await expectNoSeriousViolations(admin);
  // The engine room: every schedule with its record, and "run now" audited.
  await admin.getByRole("link", { name: "Background work" }).click();
  await expect(admin.getByRole("heading", { name: "Background work" })).toBeVisible();
  await expect(admin.locator("[data-schedule]")).toHaveCount(11);
  await expectNoSeriousViolations(admin);
  const gauges = admin.locator('[data-schedule="queues.gauges"]');
  await gauges.getByLabel("Reason (Run now)").fill("Checking the gauges by hand");
  await gauges.getByRole("button", { name: "Run now" }).click();
  await expect(admin.getByText("The schedule's work is queued")).toBeVisible();
  await admin.getByRole("link", { name: "Audit log" }).click();
  await expect(admin.locator('[data-audit="schedule.run_now"]').first()).toContainText("Checking the gauges by hand");

  // Every email template, previewed with sample data, HTML beside text.
  await admin.getByRole("link", { name: "Emails" }).click();
  await expect(admin.getByRole("heading", { name: "Templates" })).toBeVisible();
  // The page may still be arriving: wait for the twentieth preview rather than counting at once.
  await expect(admin.locator("[data-email-previews] [data-template]").nth(19)).toBeAttached();
  await expect(admin.locator('[data-template="payment_failed"] pre')).toContainText("We could not charge");
  await expectNoSeriousViolations(admin);

  await admin.getByRole("button", { name: "Sign out" }).click();
  await admin.goto("/admin");
  await expect(admin).toHaveURL(/\/admin\/login$/);
  await context.close();
});
