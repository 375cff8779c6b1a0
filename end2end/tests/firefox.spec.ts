import { expect, test } from "@playwright/test";
import { Browser as Firefox } from "puppeteer-core";
import { baseURL } from "../playwright.config";
import { expectFirefoxDecoding, firefoxMemberId, launchFirefox, openFirefoxWall } from "./firefox";
import { expectDecoding, freshRoom, memberId, openWall, printConsoleOnFailure, tiles } from "./helpers";
import { OwnServer } from "./own-server";

test.afterEach(printConsoleOnFailure);

// One Firefox for the file: it takes seconds to start.
let firefox: Firefox;
test.beforeAll(async () => {
  firefox = await launchFirefox();
});
test.afterAll(async () => {
  await firefox?.close();
});

test("Firefox: two tabs decode each other", async () => {
  const room = freshRoom("firefox");
  const a = await openFirefoxWall(firefox, baseURL, room);
  const b = await openFirefoxWall(firefox, baseURL, room);
  const [idA, idB] = [await firefoxMemberId(a), await firefoxMemberId(b)];
  await expectFirefoxDecoding(a, [idB]);
  await expectFirefoxDecoding(b, [idA]);
  await a.close();
  await b.close();
});

test("Firefox and Chromium in one room decode each other, both ways", async ({ browser }) => {
  const room = freshRoom("mixed");
  const context = await browser.newContext();
  const chromium = await openWall(context, room);
  const fox = await openFirefoxWall(firefox, baseURL, room);
  const [idChromium, idFox] = [await memberId(chromium), await firefoxMemberId(fox)];
  await expectDecoding(chromium, [idFox]);
  await expectFirefoxDecoding(fox, [idChromium]);
  await fox.close();
  await context.close();
});

test("Firefox: a server restart during a call, the video keeps playing, the mesh comes back whole", async ({ browser }) => {
  const server = new OwnServer(3016, { PORTALS_SECRET: "end-to-end firefox restart test" });
  await server.start();
  const room = freshRoom("firefox-restart");
  const context = await browser.newContext();
  const fox = await openFirefoxWall(firefox, server.base, room);
  const chromium = await openWall(context, room, { base: server.base });
  const [idFox, idChromium] = [await firefoxMemberId(fox), await memberId(chromium)];
  await expectFirefoxDecoding(fox, [idChromium]);
  await expectDecoding(chromium, [idFox]);
  const created = await fox.$eval("main.wall", (wall) => wall.getAttribute("data-connections-created"));

  await server.stop("SIGKILL");
  await fox.waitForSelector('[data-banner="reconnecting"]');
  // Peer to peer: the outage does not stop a single frame.
  await expectFirefoxDecoding(fox, [idChromium], 5_000);

  await server.start();
  await fox.waitForSelector(`main.wall[data-status="joined"][data-member="${idFox}"]`, { timeout: 30_000 });
  await expect(chromium.locator("main.wall")).toHaveAttribute("data-member", idChromium, { timeout: 30_000 });
  await expectFirefoxDecoding(fox, [idChromium]);
  await expectDecoding(chromium, [idFox]);
  const foxTiles = await fox.$$eval(".tile[data-member]:not(.self):not(.unproven)", (found) =>
    found.map((tile) => (tile as HTMLElement).dataset.member),
  );
  expect(foxTiles, "one tile, no duplicate").toEqual([idChromium]);
  expect((await tiles(chromium)).map((tile) => tile.member)).toEqual([idFox]);
  expect(
    await fox.$eval("main.wall", (wall) => wall.getAttribute("data-connections-created")),
    "the call was kept, not rebuilt",
  ).toBe(created);
  await fox.close();
  await context.close();
  await server.stop();
});
