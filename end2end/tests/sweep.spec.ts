import { Browser, BrowserContext, expect, Page, test } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { linkIn, waitForEmail } from "./mail";
import { password, signUp, totp } from "./steps";

// Every console and portal page at a phone's and a laptop's width: no page
// wider than the screen, no axe violation of any impact, no raw status word
// (`past_due`, `quantity_changed`) in what a person reads, no table whose
// headers or figures stray from their column, no list or table left empty
// without a word. Pages reached only through a form (the console's sign-in
// steps, the sandbox checkout) are checked where the journey reaches them.
// A screenshot of each page is kept in test-results/sweep/ for review.

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

/** A new admin, enrolled through the sign-in pages, each checked on the way. */
async function signedInAdmin(browser: Browser, problems: string[]): Promise<BrowserContext> {
  const email = `sweep-${Date.now()}@admin-e2e.test`;
  server(["create-admin", "--email", email], { GATEHOUSE_ADMIN_PASSWORD: password });
  // axe is injected as a script, which the console's CSP rightly forbids.
  const context = await browser.newContext({ bypassCSP: true, extraHTTPHeaders: client });
  const admin = await context.newPage();
  const signIn = async (page: Page) => {
    await page.goto("/admin/login");
    await checkHere(page, "/admin/login", problems);
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Continue" }).click();
  };
  await signIn(admin);
  const secret = (await admin.locator("[data-secret]").textContent())!.trim();
  await checkHere(admin, "/admin/enroll", problems);
  await admin.getByLabel("Code from the app").fill(totp(secret));
  await admin.getByRole("button", { name: "Confirm" }).click();
  await expect(admin.getByRole("link", { name: "I have saved them" })).toBeVisible();
  await checkHere(admin, "/admin/recovery-codes", problems);
  await admin.getByRole("link", { name: "I have saved them" }).click();
  await expect(admin.getByRole("heading", { name: "Dashboard" })).toBeVisible();
  await admin.close();
  // The second factor's page, as an enrolled admin signing in again meets it.
  const again = await (await browser.newContext({ bypassCSP: true, extraHTTPHeaders: client })).newPage();
  await signIn(again);
  await expect(again.getByLabel("Code")).toBeVisible();
  await checkHere(again, "/admin/verify", problems);
  await again.context().close();
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

/** Tables whose headers or figures stray from their column, rows whose cells
 * sit at different heights, and lists or tables with nothing in them. */
async function layoutProblems(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const found: string[] = [];
    const figure = /^[−-]?[$€£]?\d[\d,]*(\.\d+)?\s?%?$/;
    const side = (align: string) => (["right", "end", "-webkit-right"].includes(align) ? "right" : align.includes("center") ? "centre" : "left");
    for (const table of document.querySelectorAll("main table")) {
      const name = `table "${(table.querySelector("caption")?.textContent ?? "").trim().slice(0, 40)}"`;
      const rows = [...table.querySelectorAll("tbody tr")];
      if (!rows.length) found.push(`${name} is empty and says nothing`);
      for (const row of rows) {
        const heights = new Set([...row.children].map((c) => getComputedStyle(c).verticalAlign));
        if (heights.size > 1) found.push(`${name}: a row's cells sit at ${[...heights].join(" and ")}`);
      }
      if (table.querySelector("[colspan], [rowspan]")) continue;
      const heads = [...table.querySelectorAll("thead tr:last-child th")];
      heads.forEach((head, i) => {
        const column = rows.map((r) => r.children[i]).filter((c): c is Element => !!c);
        const title = (head.textContent ?? "").trim();
        const texts = column.map((c) => (c.textContent ?? "").trim()).filter((t) => t && t !== "—");
        if (texts.length && texts.every((t) => figure.test(t)) && column.some((c) => side(getComputedStyle(c).textAlign) !== "right"))
          found.push(`${name}: the figures under "${title}" are not right-aligned`);
        if (column[0] && side(getComputedStyle(head).textAlign) !== side(getComputedStyle(column[0]).textAlign))
          found.push(`${name}: "${title}" sits ${side(getComputedStyle(head).textAlign)}, its cells ${side(getComputedStyle(column[0]).textAlign)}`);
      });
    }
    for (const list of document.querySelectorAll("main ul, main ol"))
      if (!list.children.length) found.push(`an empty list says nothing (${list.parentElement?.id || list.parentElement?.tagName.toLowerCase()})`);
    return found;
  });
}

async function check(page: Page, path: string, width: number, problems: string[]) {
  const response = await page.goto(path);
  if (!response || response.status() >= 400) {
    problems.push(`${width}px ${path}: status ${response?.status()}`);
    return;
  }
  await inspect(page, path, width, problems);
}

/** Checks the page as the journey left it, at each width (it may not be loadable by address). */
async function checkHere(page: Page, path: string, problems: string[]) {
  for (const width of widths) {
    await page.setViewportSize({ width, height: 900 });
    await inspect(page, path, width, problems);
  }
}

async function inspect(page: Page, path: string, width: number, problems: string[]) {
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
  for (const problem of await layoutProblems(page)) problems.push(`${width}px ${path}: ${problem}`);
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
  const problems: string[] = [];
  const page = await (await browser.newContext({ bypassCSP: true, extraHTTPHeaders: client })).newPage();
  // A customer who subscribed through the sandbox (its checkout page checked
  // on the way), and a year of seeded history for the console.
  const stamp = Date.now();
  await signUp(page, `sweep-${stamp}@sweep-e2e.test`, `Sweep Works ${stamp}`);
  await page.getByLabel("Plan", { exact: true }).selectOption("starter");
  await page.getByRole("button", { name: "Continue to payment" }).click();
  await expect(page).toHaveURL(/\/billing\/sandbox\/checkout\/cs_sbx_/);
  const session = new URL(page.url()).pathname.split("/").pop()!;
  await checkHere(page, "/billing/sandbox/checkout", problems);
  await page.getByLabel("Test card number").fill("4242 4242 4242 4242");
  await page.getByRole("button", { name: "Pay (test mode)" }).click();
  await expect(page).toHaveURL(/\/app\/billing/);
  server(["seed-demo", "--organizations", "40", "--months", "12", "--seed", "11"]);
  const admin = await (await signedInAdmin(browser, problems)).newPage();

  // An invitation, opened by the invitee in a browser of their own.
  const invitee = `sweep-invitee-${stamp}@sweep-e2e.test`;
  await page.goto("/app/team");
  await page.getByLabel("Email address").fill(invitee);
  await page.getByRole("button", { name: "Send invitation" }).click();
  await expect(page.getByText("Invitation sent.")).toBeVisible();
  const invitation = new URL(linkIn(await waitForEmail(invitee, "invited you")));
  const guest = await (await browser.newContext({ bypassCSP: true, extraHTTPHeaders: client })).newPage();

  // A webhook endpoint, so its own page has something to show.
  await admin.goto("/admin/webhooks");
  await admin.getByLabel("URL", { exact: true }).fill(`https://hooks.example.com/sweep-${stamp}`);
  await admin.getByLabel("Description", { exact: true }).fill("sweep receiver");
  await admin.getByRole("button", { name: "Add the endpoint" }).click();
  await expect(admin.locator("[data-fresh-secret]")).toBeVisible();

  const portal = [
    "/app",
    "/app/billing",
    "/app/team",
    "/app/account",
    "/app/licenses",
    "/app/billing/change?tier=business&cycle=monthly",
    "/app/billing/card",
    `/app/billing/success?session_id=${session}`,
  ];
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
    ["/admin/webhooks", /^\/admin\/webhooks\/[0-9a-f-]{36}$/],
  ] as const) {
    const detail = await firstLink(admin, list, pattern);
    if (detail) console.push(detail);
  }

  expect(console.some((path) => path.startsWith("/admin/webhooks/")), "an endpoint's page").toBe(true);
  for (const width of widths) {
    for (const p of [page, admin, guest]) await p.setViewportSize({ width, height: 900 });
    for (const path of portal) await check(page, path, width, problems);
    for (const path of console) await check(admin, path, width, problems);
    await check(guest, invitation.pathname + invitation.search, width, problems);
  }
  expect(problems).toEqual([]);
});
