import { expect, test } from "@playwright/test";
import * as path from "node:path";
import {
  cameraDeniedContext,
  connectionsCreated,
  decodedMembers,
  expectDecoding,
  freshRoom,
  memberId,
  openWall,
  pageErrors,
  printConsoleOnFailure,
  tiles,
} from "./helpers";

test.afterEach(printConsoleOnFailure);

test("two pages in one room each decode the other's video", async ({ browser }) => {
  const context = await browser.newContext();
  const room = freshRoom("two");
  const a = await openWall(context, room);
  const b = await openWall(context, room);
  const [idA, idB] = [await memberId(a), await memberId(b)];
  await expectDecoding(a, [idB]);
  await expectDecoding(b, [idA]);
  expect(pageErrors(a).concat(pageErrors(b))).toEqual([]);
  await context.close();
});

test("four pages each decode three, and a leave touches no other connection", async ({ browser }) => {
  const context = await browser.newContext();
  const room = freshRoom("four");
  // The first page shows itself too, so it is the four-tile wall of the README.
  const pages = [await openWall(context, room, { query: "&self" })];
  for (let i = 1; i < 4; i++) pages.push(await openWall(context, room));
  const ids = await Promise.all(pages.map(memberId));
  for (const [i, page] of pages.entries()) {
    await expectDecoding(page, ids.filter((_, j) => j !== i));
  }
  await expect(pages[0].locator(".tile")).toHaveCount(4);
  // Into the test's output, so that a test run leaves the checkout clean; with
  // UPDATE_README_SCREENSHOT=1 it replaces the README's picture instead.
  const screenshot = process.env.UPDATE_README_SCREENSHOT === "1"
    ? path.join(__dirname, "..", "..", "docs", "four-tile-wall.png")
    : test.info().outputPath("four-tile-wall.png");
  await pages[0].screenshot({ path: screenshot });

  // Every page made exactly one connection per other member, and keeps them.
  const created = await Promise.all(pages.map(connectionsCreated));
  expect(created).toEqual([3, 3, 3, 3]);

  const leaving = pages.pop()!;
  const leftId = ids.pop()!;
  const closedAt = Date.now();
  await leaving.close();
  for (const page of pages) {
    await expect(page.locator(`.tile[data-member="${leftId}"]`)).toHaveCount(0, { timeout: 3_000 });
  }
  const droppedWithin = Date.now() - closedAt;
  expect(droppedWithin).toBeLessThan(3_000);
  for (const [i, page] of pages.entries()) {
    await expectDecoding(page, ids.filter((_, j) => j !== i));
    expect(await connectionsCreated(page), "no connection was rebuilt").toBe(3);
  }
  console.log(`tile of a closed page gone from the others within ${droppedWithin} ms`);
  await context.close();
});

test("two rooms do not see each other", async ({ browser }) => {
  const context = await browser.newContext();
  const [red, blue] = [freshRoom("red"), freshRoom("blue")];
  const red1 = await openWall(context, red);
  const blue1 = await openWall(context, blue);
  const red2 = await openWall(context, red);
  const blue2 = await openWall(context, blue);
  await expectDecoding(red1, [await memberId(red2)]);
  await expectDecoding(red2, [await memberId(red1)]);
  await expectDecoding(blue1, [await memberId(blue2)]);
  await expectDecoding(blue2, [await memberId(blue1)]);
  for (const page of [red1, red2, blue1, blue2]) {
    expect((await tiles(page)).length).toBe(1);
  }
  await context.close();
});

test("a tab without a camera still watches, and the others see it as a viewer", async ({ browser }) => {
  const cameras = await browser.newContext();
  const denied = await cameraDeniedContext(browser);
  const room = freshRoom("viewer");
  const a = await openWall(cameras, room);
  const b = await openWall(cameras, room);
  const viewer = await openWall(denied, room);
  const [idA, idB, idViewer] = await Promise.all([a, b, viewer].map(memberId));

  await expect(viewer.locator("main.wall")).toHaveAttribute("data-camera", "denied");
  await expect(viewer.locator('[data-banner="camera"]')).toContainText("refused");
  await expectDecoding(viewer, [idA, idB]);

  for (const page of [a, b]) {
    const tile = page.locator(`.tile[data-member="${idViewer}"]`);
    await expect(tile).toHaveAttribute("data-state", "connected");
    await expect(tile).toHaveAttribute("data-video", "false");
    await expect(tile.locator(".placeholder")).toContainText("watching only");
    await expect(page.locator('[data-banner="fatal"]')).toHaveCount(0);
  }
  await expectDecoding(a, [idB]);
  await expectDecoding(b, [idA]);
  expect(pageErrors(viewer)).toEqual([]);
  await cameras.close();
  await denied.close();
});

test("an invalid room name is explained in the page", async ({ browser }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto("/?room=not%20a%20room");
  await expect(page.locator('[data-banner="fatal"]')).toContainText("not a room name");
  await expect(page.locator("main.wall")).toHaveAttribute("data-connections-created", "0");
  await context.close();
});

test("decoded video keeps advancing", async ({ browser }) => {
  const context = await browser.newContext();
  const room = freshRoom("steady");
  const a = await openWall(context, room);
  const b = await openWall(context, room);
  const idB = await memberId(b);
  await expectDecoding(a, [idB]);
  const first = (await tiles(a))[0].time;
  await a.waitForTimeout(3_000);
  const later = (await tiles(a))[0].time;
  expect(later - first).toBeGreaterThan(2);
  expect(await decodedMembers(a)).toEqual([idB]);
  await context.close();
});
