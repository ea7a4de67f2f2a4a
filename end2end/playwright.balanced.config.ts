import { defineConfig } from "@playwright/test";
import base from "./playwright.config";

// The balanced run (scripts/e2e-balanced): three server processes behind
// HAProxy, which the spec kills and restarts; GATEHOUSE_E2E_URL is the
// balancer.
export default defineConfig({
  ...base,
  testDir: "./balanced",
  timeout: 90_000,
  projects: [{ name: "chromium", use: { browserName: "chromium" } }],
});
