import { expect, test } from "@playwright/test";

// Runs in the project with JavaScript disabled: the switch is a plain link.
test.skip(({ javaScriptEnabled }) => javaScriptEnabled, "the no-JavaScript project runs this");

test("without JavaScript the switch reloads the page with annual prices", async ({ page }) => {
  await page.goto("/pricing");
  await expect(page.locator('[data-tier="starter"] [data-price]')).toHaveText("$49");

  await page.getByRole("link", { name: "Annual" }).click();

  await expect(page).toHaveURL(/cycle=annual/);
  await expect(page.locator('[data-tier="starter"] [data-price]')).toHaveText("$529");
  await expect(page.locator('[data-tier="enterprise"]')).toContainText("Save $1,199 a year (10 %)");
  await expect(page.locator('[data-tier="professional"] a')).toHaveAttribute(
    "href",
    "/signup?plan=professional&cycle=annual",
  );
});
