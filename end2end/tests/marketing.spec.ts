import { expect, test } from "@playwright/test";
import { readFileSync } from "node:fs";
import { join } from "node:path";

// scripts/e2e runs Playwright from the repository root.
const axeSource = readFileSync(join(process.cwd(), "node_modules/axe-core/axe.min.js"), "utf8");

test.skip(({ javaScriptEnabled }) => !javaScriptEnabled, "runs in the JavaScript project");

for (const path of ["/", "/pricing"]) {
  test(`axe finds no serious or critical accessibility violations on ${path}`, async ({ browser }) => {
    // axe is injected as a script, which the page's CSP rightly forbids.
    const context = await browser.newContext({ bypassCSP: true });
    const page = await context.newPage();
    await page.goto(path);
    await page.addScriptTag({ content: axeSource });
    const results = await page.evaluate(async () => (window as any).axe.run(document, { resultTypes: ["violations"] }));
    const serious = results.violations.filter((v: any) => v.impact === "serious" || v.impact === "critical");
    expect(serious.map((v: any) => `${v.id}: ${v.help} (${v.nodes.length})`)).toEqual([]);
    await context.close();
  });

  for (const width of [360, 768, 1280]) {
    test(`${path} fits a ${width} px wide screen without sideways scrolling`, async ({ page }) => {
      await page.setViewportSize({ width, height: 900 });
      await page.goto(path);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(overflow).toBeLessThanOrEqual(0);
      await expect(page.getByRole("heading", { level: 1 })).toBeVisible();
    });
  }
}

test("every call to action on the landing page leads to signup", async ({ page }) => {
  await page.goto("/");
  const ctas = page.locator("[data-cta]");
  const count = await ctas.count();
  expect(count).toBeGreaterThanOrEqual(5);
  for (let i = 0; i < count; i++) {
    const href = await ctas.nth(i).getAttribute("href");
    expect(href).toMatch(/^\/signup(\?plan=(starter|professional|enterprise)&cycle=monthly)?$/);
  }
  await page.locator('[data-cta="teaser"]').first().click();
  await expect(page).toHaveURL(/\/signup\?plan=starter&cycle=monthly/);
  await expect(page.getByText("You chose the starter plan, billed monthly.")).toBeVisible();
});

test("each pricing card carries its plan and the chosen cycle into signup", async ({ page }) => {
  await page.goto("/pricing");
  await page.waitForFunction(() => (window as any).__hydrateIsland !== undefined);
  await page.getByRole("link", { name: "Annual" }).click();
  for (const plan of ["starter", "professional", "enterprise"]) {
    await expect(page.locator(`[data-tier="${plan}"] a`)).toHaveAttribute("href", `/signup?plan=${plan}&cycle=annual`);
  }
  await page.locator('[data-tier="enterprise"] a').click();
  await expect(page).toHaveURL(/\/signup\?plan=enterprise&cycle=annual/);
  await expect(page.getByText("You chose the enterprise plan, billed annual.")).toBeVisible();
});

test("the feature matrix header stays in view while scrolling", async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto("/pricing");
  const table = page.locator("table");
  await table.scrollIntoViewIfNeeded();
  await page.mouse.wheel(0, 900);
  const header = page.locator("thead");
  const box = await header.boundingBox();
  expect(box?.y ?? -1).toBeGreaterThanOrEqual(0);
  expect(box?.y ?? 1000).toBeLessThan(5);
});
