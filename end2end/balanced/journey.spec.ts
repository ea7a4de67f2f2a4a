import { APIRequestContext, expect, test } from "@playwright/test";
import { spawn } from "node:child_process";
import { openSync, readFileSync, writeFileSync } from "node:fs";
import { checkout, expectInvoice, signUp } from "../tests/steps";

// Three processes behind HAProxy (scripts/e2e-balanced): each request of this
// journey may land on any of them, so the session, the checkout and the
// plan change all cross processes; one is killed with SIGKILL mid-journey
// and started again.
const dir = process.env.GATEHOUSE_BALANCED_DIR ?? "target/balanced";
const ports = (process.env.GATEHOUSE_BALANCED_PORTS ?? "3201 3202 3203").split(" ");

const pidOf = (n: number) => Number(readFileSync(`${dir}/pid-${n}`, "utf8").trim());

function killHard(n: number) {
  process.kill(pidOf(n), "SIGKILL");
}

/// Starts process `n` again as scripts/e2e-balanced did (same environment).
function restart(n: number) {
  const log = openSync(`${dir}/server-${n}.log`, "a");
  const child = spawn("target/debug/server", [], {
    env: { ...process.env, GATEHOUSE_ADDR: `127.0.0.1:${ports[n]}` },
    stdio: ["ignore", log, log],
    detached: true,
  });
  child.unref();
  writeFileSync(`${dir}/pid-${n}`, String(child.pid));
}

async function answers(request: APIRequestContext, n: number): Promise<number> {
  try {
    return (await request.get(`http://127.0.0.1:${ports[n]}/livez`, { timeout: 1000 })).status();
  } catch {
    return 0;
  }
}

test("a customer's journey crosses three processes and survives one killed mid-way", async ({ page, request }) => {
  // Signup: the user, the organisation and the trial.
  await signUp(page, "lb@balanced-e2e.test", "Balanced Works");

  // One process dies without a word; the session lives on in the others.
  killHard(1);
  await expect.poll(() => answers(request, 1)).toBe(0);
  for (let i = 0; i < 4; i++) {
    await page.goto("/app/billing");
    await expect(page.locator("[data-billing-status]")).toHaveAttribute("data-billing-status", "trialing");
  }

  // Checkout in the sandbox while it is down.
  await checkout(page, "starter", "4242 4242 4242 4242");
  await expect(page.locator("[data-checkout-complete]")).toHaveText("You are subscribed to Starter");

  // It comes back and takes requests again.
  restart(1);
  await expect.poll(() => answers(request, 1), { timeout: 30_000 }).toBe(200);

  // The trial ends now: one invoice, paid; then a plan change, paid.
  await page.goto("/app/billing");
  await page.getByRole("button", { name: "End the current period now" }).click();
  await expect(page.locator("[data-billing-status]")).toHaveAttribute("data-billing-status", "active");
  await expectInvoice(page, 1);
  await page.getByLabel("Plan", { exact: true }).selectOption("professional");
  await page.getByRole("button", { name: "Review change" }).click();
  await expect(page.locator("[data-change-to]")).toHaveText("Professional, billed monthly");
  await page.getByRole("button", { name: "Confirm and pay" }).click();
  await expect(page.getByText("Your plan was changed.")).toBeVisible();
  await expect(page.locator("[data-billing-plan]")).toHaveText("Professional");
  // Nothing doubled however many processes saw the events.
  await expectInvoice(page, 2);
  for (let i = 0; i < 6; i++) {
    await page.goto("/app/billing");
    await expect(page.locator("[data-invoice]")).toHaveCount(2);
  }

  // Sign out: the session ends on every process.
  await page.getByRole("button", { name: "Sign out" }).click();
  for (let i = 0; i < 3; i++) {
    await page.goto("/app/billing");
    await expect(page).toHaveURL(/\/login\?next=/);
  }
});
