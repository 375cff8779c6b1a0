import { expect, test } from "@playwright/test";

test("the wall page renders and hydrates", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto("/?room=home");
  await expect(page.locator("main.wall")).toHaveAttribute("data-room", "home");
  await expect(page.locator(".room-name")).toHaveText("home");
  await expect(page).toHaveTitle(/home/);
  // Only the hydrated app sets this, and only its event handlers work.
  await expect(page.locator("main.wall")).toHaveAttribute("data-hydrated", "true");
  const selfView = page.locator("button.toggle-self");
  await expect(selfView).toHaveAttribute("aria-pressed", "false");
  await selfView.click();
  await expect(selfView).toHaveAttribute("aria-pressed", "true");
  await expect(page.locator(".tile.self")).toHaveCount(1);
  expect(errors).toEqual([]);
});

test("the room picker lists rooms and joins one", async ({ page }) => {
  await page.goto("/");
  await expect(page.locator("h1")).toHaveText("portals");
  await page.locator("#room").fill("e2e-picker");
  await page.locator("form.join button").click();
  await expect(page).toHaveURL(/\?room=e2e-picker$/);
  await expect(page.locator("main.wall")).toHaveAttribute("data-room", "e2e-picker");
});

test("the room picker refreshes without flashing Loading…", async ({ page }) => {
  await page.goto("/");
  await expect(page.locator("main.picker")).toBeVisible();
  // Record every "Loading…" that appears from now on, across at least one 5 s refresh.
  await page.evaluate(() => {
    const seen: string[] = [];
    (window as any).__loadingSeen = seen;
    new MutationObserver(() => {
      if (document.querySelector("main.picker")?.textContent?.includes("Loading…")) seen.push("Loading…");
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  const refreshed = page.waitForResponse((response) => response.url().endsWith("/api/rooms"), { timeout: 15_000 });
  await refreshed;
  await page.waitForResponse((response) => response.url().endsWith("/api/rooms"), { timeout: 15_000 });
  expect(await page.evaluate(() => (window as any).__loadingSeen)).toEqual([]);
});
