import { expect, test } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

test.skip(({ javaScriptEnabled }) => !javaScriptEnabled, "runs in the JavaScript project");

// A client address of its own (the e2e server trusts X-Forwarded-For), and
// no CSP so axe can be injected.
test.use({ extraHTTPHeaders: { "x-forwarded-for": "203.0.113.26" }, bypassCSP: true });

const password = "correct horse battery";
const axeSource = readFileSync(join(process.cwd(), "node_modules/axe-core/axe.min.js"), "utf8");

test("buy the self-hosted plan → the licence appears → a machine's file verifies offline → free its seat", async ({ page }) => {
  // A customer on a trial buys Enterprise in the sandbox; the trial ends, so it is active.
  await page.goto("/signup?plan=starter&cycle=monthly");
  await page.getByLabel("Work email").fill("ops@selfhost-e2e.test");
  await page.getByLabel("Password").fill(password);
  await page.getByLabel("Company name").fill("Selfhost Works");
  await page.getByRole("button", { name: "Start free trial" }).click();
  await expect(page.getByRole("heading", { name: "Check your email" })).toBeVisible();
  await page.goto("/app/billing");
  await page.getByLabel("Plan", { exact: true }).selectOption("enterprise");
  await page.getByRole("button", { name: "Continue to payment" }).click();
  await expect(page).toHaveURL(/\/billing\/sandbox\/checkout\/cs_sbx_/);
  await page.getByLabel("Test card number").fill("4242 4242 4242 4242");
  await page.getByRole("button", { name: "Pay (test mode)" }).click();
  await expect(page.locator("[data-checkout-complete]")).toHaveText("You are subscribed to Enterprise");
  await page.goto("/app/billing");
  await page.getByRole("button", { name: "End the current period now" }).click();
  await expect(page.locator("[data-billing-status]")).toHaveAttribute("data-billing-status", "active");

  // The licence is issued with the subscription (by the event worker, a moment later).
  await expect
    .poll(
      async () => {
        await page.goto("/app/licenses");
        return page.locator("[data-license-key]").count();
      },
      { timeout: 15_000 },
    )
    .toBe(1);
  await expect(page.getByRole("link", { name: "Licences" })).toHaveAttribute("aria-current", "page");
  await expect(page.locator("[data-code]")).toHaveText("Valid");
  const key = await page.locator("[data-license-key]").inputValue();
  expect(key).toMatch(/^\d{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z*~$=U]{4}$/);

  // An installation activates with the key.
  const fingerprint = "e2e-machine-7f3a";
  const activated = await page.request.post("/api/v1/licenses/activate", {
    data: { key, fingerprint, hostname: "plant-7" },
  });
  expect(activated.status()).toBe(200);

  // The portal lists the machine; its file downloads and verifies offline with the license crate.
  await page.goto("/app/licenses");
  const machine = page.locator(`[data-activation="${fingerprint}"]`);
  await expect(machine).toContainText("plant-7");
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    machine.getByRole("link", { name: /Download file/ }).click(),
  ]);
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-license-"));
  const file = join(dir, "license.txt");
  await download.saveAs(file);
  const keys = await page.request.get("/api/v1/licensing/keys");
  writeFileSync(join(dir, "keys.json"), await keys.text());
  const verify = (machineId: string) =>
    JSON.parse(
      execFileSync(
        "target/debug/server",
        ["verify-license", "--keys", join(dir, "keys.json"), "--file", file, "--fingerprint", machineId],
        { encoding: "utf8", env: { ...process.env, RUST_LOG: "off" } },
      ),
    );
  const verdict = verify(fingerprint);
  expect(verdict.standing).toBe("licensed");
  expect(verdict.tier).toBe("enterprise");
  expect(verify("another-machine").standing).toMatch(/^unverifiable: .*another machine/);

  // The page is accessible and fits a phone.
  await page.addScriptTag({ content: axeSource });
  const results = await page.evaluate(async () => (window as any).axe.run(document, { resultTypes: ["violations"] }));
  expect(results.violations.map((v: any) => `${v.impact} ${v.id}: ${v.help}`)).toEqual([]);
  await page.setViewportSize({ width: 390, height: 844 });
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  await page.setViewportSize({ width: 1366, height: 900 });

  // Free the machine's seat in the portal: the installation no longer holds one.
  // A danger action: its name opens the consequence, which must be ticked.
  await machine.getByText("Free this seat").click();
  await machine.getByLabel(/stops validating at its next check-in/).check();
  await machine.getByRole("button", { name: "Free the seat" }).click();
  await expect(page.getByText("The machine's seat is free.")).toBeVisible();
  await expect(page.locator(`[data-activation="${fingerprint}"]`)).toHaveCount(0);
  const checkIn = await page.request.post("/api/v1/licenses/validate", { data: { key, fingerprint } });
  expect((await checkIn.json()).code).toBe("NO_MACHINE");
});
