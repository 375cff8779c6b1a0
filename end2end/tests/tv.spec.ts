import { Browser, expect, Locator, Page, test } from "@playwright/test";
import { expectDecoding, freshRoom, memberId, openWall, printConsoleOnFailure, wallAndCamera } from "./helpers";
import { installHooks } from "./hooks";

test.afterEach(printConsoleOnFailure);

/** Small cameras: six tabs encode on two cores. */
async function cameraContext(browser: Browser, size = { width: 320, height: 180, frameRate: 15 }) {
  const context = await browser.newContext();
  await installHooks(context, { videoSize: size });
  return context;
}

async function area(locator: Locator): Promise<number> {
  const box = await locator.boundingBox();
  expect(box).not.toBeNull();
  return box!.width * box!.height;
}

test("a click focuses a tile over a strip of the others, and a second click or Escape gives the grid back", async ({ browser }) => {
  const cameras = await cameraContext(browser);
  const screen = await browser.newContext();
  const room = freshRoom("focus");
  const wall = await openWall(screen, room, { query: "&role=wall" });
  const pages: Page[] = [];
  for (let i = 0; i < 4; i++) pages.push(await openWall(cameras, room, { query: `&role=camera&name=Cam%20${i}` }));
  const ids = await Promise.all(pages.map(memberId));
  await expectDecoding(wall, ids, 45_000);

  const tile = (id: string) => wall.locator(`.tile[data-member="${id}"]`);
  // Tiles move to their places in a 0.2 s transition: sizes are read once none runs.
  const areas = () => Promise.all(ids.map((id) => area(tile(id))));
  const settled = async () => {
    await expect.poll(() => wall.evaluate(() => document.getAnimations().length)).toBe(0);
    return areas();
  };
  const gridAreas = await settled();
  await tile(ids[2]).click();
  await expect(wall.locator(".grid")).toHaveClass(/focusing/);
  await expect(tile(ids[2])).toHaveClass(/focused/);
  const focusedAreas = await settled();
  const focused = focusedAreas[2];
  for (const i of [0, 1, 3]) {
    expect(focused, `the focused tile is at least 4x the area of ${ids[i]}`).toBeGreaterThanOrEqual(4 * focusedAreas[i]);
  }
  // The focused tile is also larger than any tile of the grid was.
  expect(focused).toBeGreaterThan(Math.max(...gridAreas));
  // Everyone still plays: the strip is live video, not stills.
  await expectDecoding(wall, ids);

  // A second click restores the grid, every tile its old size.
  await tile(ids[2]).click();
  await expect(wall.locator(".grid")).not.toHaveClass(/focusing/);
  await expect(wall.locator(".tile.focused")).toHaveCount(0);
  expect((await settled())[2]).toBeCloseTo(gridAreas[2], -1);

  // From the keyboard: Tab to a tile, Enter focuses, Escape restores.
  await tile(ids[1]).focus();
  await wall.keyboard.press("Enter");
  await expect(tile(ids[1])).toHaveClass(/focused/);
  await expect(tile(ids[1])).toHaveAttribute("aria-pressed", "true");
  await wall.keyboard.press("Escape");
  await expect(wall.locator(".grid")).not.toHaveClass(/focusing/);
  // Clicking another tile while one is focused moves the focus.
  await tile(ids[0]).click();
  await tile(ids[3]).click();
  await expect(wall.locator(".tile.focused")).toHaveCount(1);
  await expect(tile(ids[3])).toHaveClass(/focused/);
  await wall.keyboard.press("Escape");
  await expect(wall.locator(".tile.focused")).toHaveCount(0);

  await cameras.close();
  await screen.close();
});

test("&kiosk shows the wall and no buttons, keeps the screen awake, and f toggles fullscreen", async ({ browser }) => {
  const { wall, camera, close } = await wallAndCamera(browser, "kiosk", {
    wallQuery: "&kiosk",
    cameraQuery: "&name=Hall",
    cameraContext: await cameraContext(browser),
  });

  await expect(wall.locator("main.wall")).toHaveClass(/kiosk/);
  await expect(wall.locator("button")).toHaveCount(0);
  await expect(wall.locator("header")).toHaveCount(0);
  await expect(wall.locator(".tile .name")).toHaveText("Hall");
  // Each tile tells the time, so a frozen picture shows itself.
  await expect(wall.locator(".tile .clock")).toHaveText(/^\d\d:\d\d:\d\d$/);
  const first = await wall.locator(".tile .clock").textContent();
  await expect(wall.locator(".tile .clock")).not.toHaveText(first!, { timeout: 3_000 });
  // The screen wake lock is held (headless Chromium grants it).
  await expect(wall.locator("main.wall")).toHaveAttribute("data-wake-lock", "held");
  // The camera asks for it too: a phone propped up must not lock itself.
  await expect(camera.locator("main.wall")).toHaveAttribute("data-wake-lock", "held");

  await wall.keyboard.press("f");
  await expect.poll(() => wall.evaluate(() => document.fullscreenElement !== null)).toBe(true);
  await wall.keyboard.press("f");
  await expect.poll(() => wall.evaluate(() => document.fullscreenElement !== null)).toBe(false);
  // A double click on a tile: fullscreen, with that tile enlarged (its second click does not
  // take the enlargement back).
  await wall.locator(".tile").dblclick();
  await expect.poll(() => wall.evaluate(() => document.fullscreenElement !== null)).toBe(true);
  await expect(wall.locator(".tile")).toHaveClass(/focused/);
  await wall.keyboard.press("f");
  await expect.poll(() => wall.evaluate(() => document.fullscreenElement !== null)).toBe(false);

  await close();
});

test("a portrait camera is shown whole, upright, inside its tile", async ({ browser }) => {
  const { wall, camera, id, close } = await wallAndCamera(browser, "portrait", {
    cameraQuery: "&name=Phone",
    cameraContext: await cameraContext(browser, { width: 480, height: 640, frameRate: 15 }),
  });

  const tile = wall.locator(`.tile[data-member="${id}"]`);
  const video = tile.locator("video");
  // Still portrait after the camera was resized for the wall's tile.
  await expect
    .poll(() => video.evaluate((v: HTMLVideoElement) => v.videoHeight > v.videoWidth && v.videoWidth > 0))
    .toBe(true);
  expect(await video.evaluate((v) => getComputedStyle(v).objectFit)).toBe("contain");
  // The tile takes the camera's own shape: upright too (once its move to it has ended).
  await expect
    .poll(() =>
      video.evaluate((v: HTMLVideoElement) => {
        const box = v.parentElement!.getBoundingClientRect();
        return Math.abs(box.width / box.height - v.videoWidth / v.videoHeight) < 0.03;
      }),
    )
    .toBe(true);
  // The picture as drawn (contain: scaled to meet the box's nearer edge) lies inside the tile.
  const drawn = await video.evaluate((v: HTMLVideoElement) => {
    const box = v.getBoundingClientRect();
    const scale = Math.min(box.width / v.videoWidth, box.height / v.videoHeight);
    const width = v.videoWidth * scale;
    const height = v.videoHeight * scale;
    return { left: box.left + (box.width - width) / 2, top: box.top + (box.height - height) / 2, width, height };
  });
  const frame = (await tile.boundingBox())!;
  expect(drawn.left).toBeGreaterThanOrEqual(frame.x - 0.5);
  expect(drawn.top).toBeGreaterThanOrEqual(frame.y - 0.5);
  expect(drawn.left + drawn.width).toBeLessThanOrEqual(frame.x + frame.width + 0.5);
  expect(drawn.top + drawn.height).toBeLessThanOrEqual(frame.y + frame.height + 0.5);
  // Upright, and filling the tile: neither a landscape crop nor a picture between black bars.
  expect(frame.height).toBeGreaterThan(frame.width);
  expect(drawn.height).toBeGreaterThan(drawn.width);
  expect(drawn.height).toBeGreaterThan(frame.height - 4);
  expect(drawn.width).toBeGreaterThan(frame.width - 4);

  // The camera itself still captures upright.
  const settings = await camera.evaluate(() => {
    const video = document.querySelector<HTMLVideoElement>(".tile.self video")!;
    const track = (video.srcObject as MediaStream).getVideoTracks()[0];
    const { width, height } = track.getSettings();
    return { width: width!, height: height! };
  });
  expect(settings.height).toBeGreaterThan(settings.width);

  await close();
});

test("&stats shows each tile's round trip, frame rate and a direct path, and the Stats button hides them", async ({ browser }) => {
  const { wall, id, close } = await wallAndCamera(browser, "stats", {
    wallQuery: "&stats",
    cameraQuery: "&name=Yard",
    cameraContext: await cameraContext(browser),
  });

  const stats = wall.locator(`.tile[data-member="${id}"] .stats`);
  // A loopback link: host candidates on both sides, a round trip of a millisecond or so.
  await expect(stats).toHaveAttribute("data-path", "direct");
  await expect(stats).toHaveAttribute("data-rtt", /^\d+\.\d$/);
  await expect.poll(async () => Number(await stats.getAttribute("data-fps")), { timeout: 20_000 }).toBeGreaterThan(0);
  await expect(stats).toHaveText(/^\d+ ms · \d+ fps · \d+×\d+ · \d+ kbit\/s · direct$/);
  // What changes every second or two is in no live region: a screen reader is not flooded.
  await expect(wall.locator("[aria-live] .stats, [aria-live] .clock, [role=status] .clock")).toHaveCount(0);

  await expect(wall.locator("button.toggle-stats")).toHaveAttribute("aria-pressed", "true");
  await wall.locator("button.toggle-stats").click();
  await expect(stats).toHaveCount(0);
  await wall.locator("button.toggle-stats").click();
  await expect(stats).toHaveAttribute("data-path", "direct");

  await close();
});
