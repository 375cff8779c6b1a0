// What the browser benchmarks share: how they launch Chromium, and their median.
import { chromium } from "@playwright/test";
import { readFileSync } from "node:fs";

// The tests' flags (chromium-flags.json), with the fake camera at 30 frames a second, as a
// phone's camera sends: Chromium's fake camera gives 20 unless told.
export const args = JSON.parse(readFileSync(new URL("../chromium-flags.json", import.meta.url), "utf8")).map((arg) =>
  arg === "--use-fake-device-for-media-stream" ? `${arg}=fps=30` : arg,
);

/** Debian's Chromium with those flags. */
export const launchChromium = () => chromium.launch({ executablePath: "/usr/bin/chromium", args });

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** `page`'s promise `window[name]`, or an error after `ms`: `evaluate` itself never gives up. */
export function awaitInPage(page, name, ms = 30_000) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${name} within ${ms} ms`)), ms);
  });
  return Promise.race([page.evaluate((name) => window[name], name), timeout]).finally(() => clearTimeout(timer));
}

/**
 * A tab of a new room (named after `prefix`), once its camera is on and it has joined: the
 * tab a second one meets. Returns the room and the tab.
 */
export async function firstTabWithCamera(context, base, prefix) {
  const room = `${prefix}-${Math.random().toString(36).slice(2, 10)}`;
  const first = await context.newPage();
  await first.goto(`${base}/?room=${room}`);
  await first.waitForSelector('main.wall[data-camera="on"][data-status="joined"]', { timeout: 30_000 });
  return { room, first };
}
