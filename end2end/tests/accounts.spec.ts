import { expect, test } from "@playwright/test";
import { linkIn, waitForEmail } from "./mail";

test.skip(({ javaScriptEnabled }) => !javaScriptEnabled, "runs in the JavaScript project");

const owner = "ada@acme-e2e.test";
const teammate = "bob@acme-e2e.test";
const password = "correct horse battery";

test("a prospect signs up, verifies by email, signs out and in, and builds a team up to the seat limit", async ({
  page,
  browser,
}) => {
  // From a pricing card into signup, with the plan carried.
  await page.goto("/pricing");
  await page.locator('[data-tier="starter"] a').click();
  await expect(page).toHaveURL(/\/signup\?plan=starter&cycle=monthly/);
  await expect(page.getByText("You chose the starter plan")).toBeVisible();

  // A mistake is shown beside its field and the input is kept.
  await page.getByLabel("Work email").fill(owner);
  await page.getByLabel("Password").fill("short");
  await page.getByLabel("Company name").fill("Acme Metals");
  await page.getByRole("button", { name: "Start free trial" }).click();
  await expect(page.getByRole("alert")).toContainText("use at least 12 characters");
  await expect(page.getByLabel("Work email")).toHaveValue(owner);
  await expect(page.getByLabel("Company name")).toHaveValue("Acme Metals");

  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Start free trial" }).click();
  await expect(page.getByRole("heading", { name: "Check your email" })).toBeVisible();
  await page.getByRole("link", { name: "Continue to your account" }).click();
  await expect(page.locator("[data-organization]")).toHaveText("Acme Metals");
  await expect(page.getByText("14 days left in your trial")).toBeVisible();
  await expect(page.getByText("Please confirm your email address")).toBeVisible();

  // The confirmation email arrives over SMTP; its link confirms the address.
  const verification = await waitForEmail(owner, "Confirm your email");
  await page.goto(linkIn(verification));
  await page.getByRole("button", { name: "Confirm my email" }).click();
  await expect(page.getByText("Thanks, your email is confirmed.")).toBeVisible();
  await expect(page.getByText("Please confirm your email address")).toHaveCount(0);

  // Sign out, then back in.
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/$/);
  await page.goto("/app");
  await expect(page).toHaveURL(/\/login\?next=\/app/);
  await page.getByLabel("Email").fill(owner);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.locator("[data-organization]")).toHaveText("Acme Metals");

  // Invite a teammate, who joins through the emailed link.
  await page.getByRole("link", { name: "Team" }).click();
  await page.getByLabel("Email address").fill(teammate);
  await page.getByRole("button", { name: "Send invitation" }).click();
  await expect(page.getByText("Invitation sent.")).toBeVisible();
  const invitation = await waitForEmail(teammate, "invited you");
  const teammateContext = await browser.newContext();
  const teammatePage = await teammateContext.newPage();
  await teammatePage.goto(linkIn(invitation));
  await expect(teammatePage.getByText("You are invited to join Acme Metals")).toBeVisible();
  await teammatePage.getByLabel("Password").fill(password);
  await teammatePage.getByRole("button", { name: "Join Acme Metals" }).click();
  await expect(teammatePage.getByText("Welcome to the team!")).toBeVisible();
  await expect(teammatePage.getByText(`Signed in as ${teammate} (member)`)).toBeVisible();
  await teammateContext.close();

  // Starter has three seats: one more invitation fits, the next is refused.
  await page.reload();
  await expect(page.locator(`[data-member="${teammate}"]`)).toBeVisible();
  await page.getByLabel("Email address").fill("cy@acme-e2e.test");
  await page.getByRole("button", { name: "Send invitation" }).click();
  await expect(page.locator("[data-seats]")).toHaveText("3 of 3 seats used");
  await page.getByLabel("Email address").fill("dee@acme-e2e.test");
  await page.getByRole("button", { name: "Send invitation" }).click();
  await expect(page.getByRole("alert")).toContainText("Your plan includes 3 users");
  await expect(page.getByRole("link", { name: "Upgrade your plan" })).toBeVisible();
});
