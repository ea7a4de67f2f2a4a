import { Browser, BrowserContext, expect, Page, test } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { checkout, password, signUp, totp } from "./steps";

// Every console and portal page at a phone's and a laptop's width: no page
// wider than the screen, no axe violation of any impact, no raw status word
// (`past_due`, `quantity_changed`) in what a person reads. A screenshot of
// each page is kept in test-results/sweep/ for review.

test.skip(({ javaScriptEnabled }) => !javaScriptEnabled, "runs in the JavaScript project");
test.setTimeout(240_000);

const client = { "x-forwarded-for": "203.0.113.31" };
test.use({ extraHTTPHeaders: client });

const axeSource = readFileSync(join(process.cwd(), "node_modules/axe-core/axe.min.js"), "utf8");
const shots = join(process.cwd(), "test-results", "sweep");
const widths = [390, 1366];

function server(args: string[], extra: Record<string, string> = {}) {
  return execFileSync("target/debug/server", args, {
    env: { ...process.env, DATABASE_URL: process.env.GATEHOUSE_E2E_DATABASE_URL, ...extra },
  }).toString();
}

async function signedInAdmin(browser: Browser): Promise<BrowserContext> {
  const email = `sweep-${Date.now()}@admin-e2e.test`;
  server(["create-admin", "--email", email], { GATEHOUSE_ADMIN_PASSWORD: password });
  // axe is injected as a script, which the console's CSP rightly forbids.
  const context = await browser.newContext({ bypassCSP: true, extraHTTPHeaders: client });
  const admin = await context.newPage();
  await admin.goto("/admin/login");
  await admin.getByLabel("Email").fill(email);
  await admin.getByLabel("Password").fill(password);
  await admin.getByRole("button", { name: "Continue" }).click();
  const secret = (await admin.locator("[data-secret]").textContent())!.trim();
  await admin.getByLabel("Code from the app").fill(totp(secret));
  await admin.getByRole("button", { name: "Confirm" }).click();
  await admin.getByRole("link", { name: "I have saved them" }).click();
  await expect(admin.getByRole("heading", { name: "Dashboard" })).toBeVisible();
  await admin.close();
  return context;
}

/** Snake-case words in the visible text, outside code samples and identifiers. */
async function rawWords(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const found = new Set<string>();
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const parent = node.parentElement;
      if (!parent || parent.closest("code, pre, kbd, samp, script, style, [data-identifier], [hidden]")) continue;
      for (const word of node.textContent!.match(/\b[a-z]+(?:_[a-z]+)+\b|\b(?:trialing|canceled)\b/g) ?? []) found.add(word);
    }
    return [...found];
  });
}

async function check(page: Page, path: string, width: number, problems: string[]) {
  const response = await page.goto(path);
  if (!response || response.status() >= 400) {
    problems.push(`${width}px ${path}: status ${response?.status()}`);
    return;
  }
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 0) {
    // Name the widest elements that are not inside a sideways-scrolling region.
    const culprits = await page.evaluate(() => {
      // An element past the edge, or one whose own text runs out of its box.
      const wide = [...document.querySelectorAll("body *")].filter(
        (e) =>
          !e.parentElement?.closest(".overflow-x-auto") &&
          (e.getBoundingClientRect().right > window.innerWidth + 1 ||
            (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX === "visible")),
      );
      return wide
        .filter((e) => !wide.some((inner) => inner !== e && e.contains(inner)))
        .slice(0, 3)
        .map((e) => `${e.tagName.toLowerCase()}.${[...e.classList].join(".")} "${(e.textContent ?? "").trim().slice(0, 40)}"`);
    });
    problems.push(`${width}px ${path}: ${overflow}px wider than the screen: ${culprits.join("; ")}`);
  }
  await page.addScriptTag({ content: axeSource });
  const results = await page.evaluate(async () => (window as any).axe.run(document, { resultTypes: ["violations"] }));
  for (const v of results.violations) {
    problems.push(`${width}px ${path}: axe ${v.id} (${v.impact}, ${v.nodes.length}): ${v.nodes[0]?.target}`);
  }
  const raw = await rawWords(page);
  if (raw.length) problems.push(`${width}px ${path}: raw words ${raw.join(", ")}`);
  const slug = path.replace(/[^a-z0-9]+/gi, "-").replace(/^-|-$/g, "") || "home";
  await page.screenshot({ path: join(shots, `${width}-${slug}.png`), fullPage: true });
}

/** The first link on `path` whose address matches `pattern`, if any. */
async function firstLink(page: Page, path: string, pattern: RegExp): Promise<string | undefined> {
  await page.goto(path);
  const hrefs = await page.locator("main a[href]").evaluateAll((links) => links.map((a) => a.getAttribute("href")!));
  return hrefs.find((href) => pattern.test(href));
}

test("every console and portal page fits a phone and a laptop, passes axe and shows words, not raw values", async ({
  browser,
}) => {
  mkdirSync(shots, { recursive: true });
  const page = await (await browser.newContext({ bypassCSP: true, extraHTTPHeaders: client })).newPage();
  // A customer who subscribed through the sandbox, and a year of seeded history for the console.
  await signUp(page, `sweep-${Date.now()}@sweep-e2e.test`, `Sweep Works ${Date.now()}`);
  await checkout(page, "starter", "4242 4242 4242 4242");
  await expect(page).toHaveURL(/\/app\/billing/);
  server(["seed-demo", "--organizations", "40", "--months", "12", "--seed", "11"]);
  const admin = await (await signedInAdmin(browser)).newPage();

  const portal = ["/app", "/app/billing", "/app/team", "/app/account", "/app/licenses", "/app/billing/change?tier=business&cycle=monthly"];
  const invoice = await firstLink(page, "/app/billing", /^\/app\/billing\/invoices\/[^/]+$/);
  if (invoice) portal.push(invoice);
  const console = [
    "/admin",
    "/admin/organizations",
    "/admin/analytics",
    "/admin/events",
    "/admin/emails",
    "/admin/work",
    "/admin/webhooks",
    "/admin/health",
    "/admin/api-keys",
    "/admin/import",
    "/admin/audit",
    `/admin/movements?month=${new Date().toISOString().slice(0, 7)}`,
  ];
  for (const [list, pattern] of [
    ["/admin/organizations", /^\/admin\/organizations\/[0-9a-f-]{36}$/],
    ["/admin/events", /^\/admin\/events\/[^/?]+$/],
  ] as const) {
    const detail = await firstLink(admin, list, pattern);
    if (detail) console.push(detail);
  }

  const problems: string[] = [];
  for (const width of widths) {
    for (const p of [page, admin]) await p.setViewportSize({ width, height: 900 });
    for (const path of portal) await check(page, path, width, problems);
    for (const path of console) await check(admin, path, width, problems);
  }
  expect(problems).toEqual([]);
});
