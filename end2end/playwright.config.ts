import { defineConfig } from "@playwright/test";

// Debian's Chromium, never a downloaded browser. The server is started by
// scripts/e2e, which passes its address in GATEHOUSE_E2E_URL.
export default defineConfig({
  testDir: "./tests",
  timeout: 30_000,
  retries: 0,
  workers: 1,
  reporter: [["list"]],
  use: {
    baseURL: process.env.GATEHOUSE_E2E_URL ?? "http://127.0.0.1:3100",
    launchOptions: {
      executablePath: "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  projects: [
    { name: "chromium", use: { browserName: "chromium" } },
    {
      name: "chromium-no-js",
      use: { browserName: "chromium", javaScriptEnabled: false },
      testMatch: /no-js\.spec\.ts$/,
    },
  ],
});
