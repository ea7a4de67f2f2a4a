import { expect, test } from "@playwright/test";

test.skip(({ javaScriptEnabled }) => javaScriptEnabled, "the no-JavaScript project runs this");

test("without JavaScript, signup and sign-in forms still work", async ({ page }) => {
  await page.goto("/signup?plan=professional&cycle=annual");
  await page.getByLabel("Work email").fill("nojs@acme-e2e.test");
  await page.getByLabel("Password").fill("correct horse battery");
  await page.getByLabel("Company name").fill("No Script Ltd");
  await page.getByRole("button", { name: "Start free trial" }).click();
  await page.getByRole("link", { name: "Continue to your account" }).click();
  await expect(page.locator("[data-organization]")).toHaveText("No Script Ltd");
  await expect(page.locator("[data-plan]")).toHaveText("Professional");

  await page.getByRole("button", { name: "Sign out" }).click();
  await page.goto("/login");
  await page.getByLabel("Email").fill("nojs@acme-e2e.test");
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toContainText("the email or password is incorrect");
  await expect(page.getByLabel("Email")).toHaveValue("nojs@acme-e2e.test");
});
