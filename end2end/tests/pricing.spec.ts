import { expect, test } from "@playwright/test";

test.skip(({ javaScriptEnabled }) => !javaScriptEnabled, "needs JavaScript");

test("the pricing page shows the three tiers", async ({ page }) => {
  await page.goto("/pricing");
  const cards = page.locator("[data-tier]");
  await expect(cards).toHaveCount(3);
  await expect(cards.nth(0)).toContainText("Starter");
  await expect(cards.nth(1)).toContainText("Professional");
  await expect(cards.nth(1)).toContainText("Recommended");
  await expect(cards.nth(2)).toContainText("Enterprise");
  await expect(page.locator("[data-feature]")).toHaveCount(27);
});

test("after hydration the switch changes prices without loading a page", async ({ page }) => {
  const documents: string[] = [];
  page.on("request", (request) => {
    if (request.resourceType() === "document") documents.push(request.url());
  });
  await page.goto("/pricing");
  // The island is live once its wasm has run; wait for the bundle.
  await page.waitForFunction(() => (window as any).__hydrateIsland !== undefined);
  const starterPrice = page.locator('[data-tier="starter"] [data-price]');
  await expect(starterPrice).toHaveText("$49");

  await page.getByRole("link", { name: "Annual" }).click();

  await expect(starterPrice).toHaveText("$529");
  await expect(page.locator('[data-tier="professional"]')).toContainText("Save $239 a year (10 %)");
  await expect(page.getByRole("link", { name: "Annual" })).toHaveAttribute("aria-current", "true");
  await expect(page.locator('[data-tier="starter"] a')).toHaveAttribute("href", "/signup?plan=starter&cycle=annual");
  expect(page.url()).toContain("cycle=annual");
  expect(documents).toHaveLength(1);

  await page.getByRole("link", { name: "Monthly" }).click();
  await expect(starterPrice).toHaveText("$49");
  expect(documents).toHaveLength(1);
});

test("an unknown page answers 404", async ({ page }) => {
  const response = await page.goto("/no-such-page");
  expect(response?.status()).toBe(404);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText("We can't find that page");
});
