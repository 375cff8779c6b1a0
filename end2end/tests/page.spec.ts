import { expect, test } from "@playwright/test";

test("the wall page renders and hydrates", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto("/?room=home");
  await expect(page.locator("main.wall")).toHaveAttribute("data-room", "home");
  await expect(page.locator(".room-name")).toHaveText("home");
  await expect(page).toHaveTitle(/home/);
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
