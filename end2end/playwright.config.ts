import { defineConfig } from "@playwright/test";
import { readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Flags for Debian's Chromium on a closed network, with a fake camera that needs no prompt.
 * Kept in `chromium-flags.json`, which the benchmarks (plain Node, no TypeScript) read too.
 */
export const chromiumArgs: string[] = JSON.parse(readFileSync(join(__dirname, "chromium-flags.json"), "utf8"));

/** The same flags with options for the fake camera, e.g. `device-count=2` or `fps=30`. */
export function chromiumArgsWithFakeDevice(options: string): string[] {
  return chromiumArgs.map((arg) =>
    arg === "--use-fake-device-for-media-stream" ? `${arg}=${options}` : arg,
  );
}

export const baseURL = process.env.PORTALS_URL ?? "http://127.0.0.1:3000";

export default defineConfig({
  testDir: "./tests",
  // WebRTC set-up in a loaded 2-core machine takes seconds, not milliseconds.
  timeout: 90_000,
  expect: { timeout: 20_000 },
  // Every test opens several pages that each encode and decode video: one test at a time.
  fullyParallel: false,
  workers: 1,
  // One more try for a test that fails: a loaded machine sometimes misses a deadline. A test
  // that passes only on its retry is named as flaky in the list and in the summary.
  retries: 1,
  forbidOnly: true,
  reporter: [["list"], ["./summary-reporter.ts"]],
  // `cargo leptos end-to-end` starts the server and does not wait for it.
  globalSetup: "./global-setup.ts",
  use: {
    baseURL,
    browserName: "chromium",
    launchOptions: { executablePath: "/usr/bin/chromium", args: chromiumArgs },
    trace: "off",
    viewport: { width: 1280, height: 720 },
  },
});
