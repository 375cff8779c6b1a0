import { expect, Page, test } from "@playwright/test";
import { expectDecoding, freshRoom, memberId, openWall, printConsoleOnFailure } from "./helpers";
import { framesDecoded, framesSent, installHooks, mediaRequests, openConnections, videoDirections } from "./hooks";

test.afterEach(printConsoleOnFailure);

test("one wall decodes eight cameras, and each camera holds one connection and decodes none", async ({ browser }) => {
  test.setTimeout(150_000);
  const context = await browser.newContext();
  // Nine tabs on two cores: small cameras, as a phone on a budget sends.
  await installHooks(context, { videoSize: { width: 320, height: 180, frameRate: 15 } });
  const room = freshRoom("roles");
  const wall = await openWall(context, room, { query: "&role=wall" });
  const cameras: Page[] = [];
  for (let i = 0; i < 8; i++) cameras.push(await openWall(context, room, { query: "&role=camera" }));
  const cameraIds = await Promise.all(cameras.map(memberId));

  await expectDecoding(wall, cameraIds, 60_000);
  // The wall is a screen: it never asked for a camera or a microphone, and sends nothing.
  expect(await mediaRequests(wall)).toEqual([]);
  expect(await framesSent(wall)).toBe(0);
  expect(await openConnections(wall)).toEqual(Array(8).fill("connected"));
  for (const camera of cameras) {
    // Exactly one connection, to the wall: none was ever made to another camera.
    expect(await openConnections(camera)).toEqual(["connected"]);
    expect(await camera.locator("main.wall").getAttribute("data-connections-created")).toBe("1");
    await expect(camera.locator("main.wall")).toHaveAttribute("data-watchers", "1");
    await expect(camera.locator(".status")).toHaveText("live · 1 watching");
    // It shows its own preview and no tile of anyone else.
    await expect(camera.locator(".tile.self video")).toHaveJSProperty("paused", false);
    await expect(camera.locator(".tile[data-member]:not(.self)")).toHaveCount(0);
    expect(await framesDecoded(camera)).toBe(0);
    // It would not decode a sender either: its video is negotiated send-only.
    expect(await videoDirections(camera)).toEqual(["sendonly"]);
  }
  expect(await videoDirections(wall)).toEqual(Array(8).fill("recvonly"));
  await context.close();
});

test("a both tab sends to a wall and receives from a camera, and the two roles never link", async ({ browser }) => {
  const context = await browser.newContext();
  await installHooks(context, { videoSize: { width: 320, height: 180, frameRate: 15 } });
  const room = freshRoom("roles-mix");
  const wall = await openWall(context, room, { query: "&role=wall" });
  const secondWall = await openWall(context, room, { query: "&role=wall" });
  const camera = await openWall(context, room, { query: "&role=camera" });
  const secondCamera = await openWall(context, room, { query: "&role=camera" });
  const both = await openWall(context, room);
  const [idCamera, idSecondCamera, idBoth] = await Promise.all([camera, secondCamera, both].map(memberId));

  await expectDecoding(wall, [idCamera, idSecondCamera, idBoth].sort(), 45_000);
  await expectDecoding(secondWall, [idCamera, idSecondCamera, idBoth].sort(), 45_000);
  // The both tab watches the cameras and shows no tile for the walls, which send nothing.
  await expectDecoding(both, [idCamera, idSecondCamera].sort(), 45_000);
  await expect(both.locator(".tile[data-member]:not(.self)")).toHaveCount(2);
  // Walls never connect to walls, cameras never to cameras.
  expect(await openConnections(wall)).toHaveLength(3);
  expect(await openConnections(camera)).toHaveLength(3);
  await expect(camera.locator("main.wall")).toHaveAttribute("data-watchers", "3");
  expect(await framesDecoded(camera)).toBe(0);
  expect(await videoDirections(camera)).toEqual(Array(3).fill("sendonly"));
  // The both tab joined last and answered nobody: it offered to each, with one video section
  // per link, sending to the walls and receiving from the cameras.
  expect((await videoDirections(both)).sort()).toEqual(["recvonly", "recvonly", "sendonly", "sendonly"]);
  for (const page of [camera, secondCamera, wall, secondWall]) {
    expect(await page.locator("main.wall").getAttribute("data-connections-created")).toBe("3");
  }
  await context.close();
});
