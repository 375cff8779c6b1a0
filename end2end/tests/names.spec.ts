import { chromium, expect, Page, test } from "@playwright/test";
import { baseURL, chromiumArgsWithFakeDevice } from "../playwright.config";
import { expectDecoding, freshRoom, memberId, openWall, printConsoleOnFailure, wallAndCamera } from "./helpers";

test.afterEach(printConsoleOnFailure);

test("a camera's name, from the URL or typed, is shown on the wall's tile and follows a rename live", async ({ browser }) => {
  // One context per device: a name is kept in the device's localStorage.
  const [screen, porch, garage] = [await browser.newContext(), await browser.newContext(), await browser.newContext()];
  const room = freshRoom("names");
  const wall = await openWall(screen, room, { query: "&role=wall" });
  const front = await openWall(porch, room, { query: "&role=camera&name=Front%20%20door" });
  const back = await openWall(garage, room, { query: "&role=camera" });
  const [idFront, idBack] = await Promise.all([front, back].map(memberId));
  await expectDecoding(wall, [idFront, idBack]);

  const frontTile = wall.locator(`.tile[data-member="${idFront}"]`);
  const backTile = wall.locator(`.tile[data-member="${idBack}"]`);
  // The URL's name, tidied; the unnamed camera shows its id, and its page offers it as a hint.
  await expect(frontTile.locator(".name")).toHaveText("Front door");
  await expect(frontTile.locator("video")).toHaveAttribute("aria-label", "Front door");
  await expect(front.locator("input.camera-name")).toHaveValue("Front door");
  await expect(backTile.locator(".name")).toHaveText(idBack.slice(0, 6));
  await expect(back.locator("input.camera-name")).toHaveAttribute("placeholder", `camera ${idBack.slice(0, 6)}`);

  // Typed in the page.
  await back.locator("input.camera-name").fill("Garage");
  await back.locator("input.camera-name").press("Enter");
  await expect(backTile.locator(".name")).toHaveText("Garage");

  // A live rename reaches the wall within 2 s.
  await back.locator("input.camera-name").fill("Back door");
  const renamed = Date.now();
  await back.locator("input.camera-name").press("Enter");
  await expect(backTile.locator(".name")).toHaveText("Back door", { timeout: 2_000 });
  console.log(`rename shown on the wall after ${Date.now() - renamed} ms`);

  // The device keeps it: the camera comes back as "Back door" after a reload, without &name.
  await back.reload();
  await expect(back.locator("main.wall")).toHaveAttribute("data-status", "joined");
  await expect(back.locator("input.camera-name")).toHaveValue("Back door");
  await expect(backTile.locator(".name")).toHaveText("Back door");
  // Cleared, the tile shows the id again.
  await back.locator("input.camera-name").fill("   ");
  await back.locator("input.camera-name").press("Enter");
  await expect(backTile.locator(".name")).toHaveText(idBack.slice(0, 6));

  for (const context of [screen, porch, garage]) await context.close();
});

test("a camera turned off says so on the wall, and its picture comes back when it is turned on", async ({ browser }) => {
  const { wall, camera, id, close } = await wallAndCamera(browser, "camera-off", { cameraQuery: "&name=Porch" });
  const tile = wall.locator(`.tile[data-member="${id}"]`);
  await expect(tile).toHaveAttribute("data-camera", "on");

  await camera.locator("button.toggle-camera").click();
  await expect(camera.locator("main.wall")).toHaveAttribute("data-camera", "off");
  await expect(tile).toHaveAttribute("data-camera", "off");
  await expect(tile.locator(".placeholder")).toHaveText("Camera off");
  await expect(tile.locator(".state")).toHaveText("camera off");
  await expect(tile).toHaveAttribute("data-video", "false");
  // The tile stays, with its name: the camera is still in the room.
  await expect(tile.locator(".name")).toHaveText("Porch");

  await camera.locator("button.toggle-camera").click();
  await expect(tile).toHaveAttribute("data-camera", "on");
  await expect(tile).toHaveAttribute("data-video", "true");
  await expect(tile.locator(".placeholder")).toHaveCount(0);
  await expectDecoding(wall, [id]);
  await close();
});

/** The id of the camera a camera page sends now. */
async function cameraDevice(page: Page): Promise<string> {
  return page.evaluate(() => {
    const video = document.querySelector<HTMLVideoElement>(".tile.self video")!;
    const stream = video.srcObject as MediaStream | null;
    return stream?.getVideoTracks()[0]?.getSettings().deviceId ?? "";
  });
}

test("a device with two cameras flips between them on the same connection; one with one camera has no Flip", async ({ browser }) => {
  // Chromium's fake capture can pretend to have two cameras, as a phone has two sides.
  const twoCameras = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: chromiumArgsWithFakeDevice("device-count=2"),
  });
  const { room, wall, camera, id, screen, close } = await wallAndCamera(browser, "flip", {
    cameraQuery: "&name=Phone",
    cameraContext: await twoCameras.newContext({ baseURL }),
  });

  await expect(camera.locator("main.wall")).toHaveAttribute("data-cameras", "2");
  const flip = camera.locator("button.flip-camera");
  await expect(flip).toBeVisible();
  await expect.poll(() => cameraDevice(camera)).not.toBe("");
  const first = await cameraDevice(camera);
  await flip.click();
  await expect.poll(() => cameraDevice(camera)).not.toBe(first);
  const second = await cameraDevice(camera);
  expect(second).not.toBe("");
  // The wall goes on decoding the camera over the connection it had: a track replaced, not
  // a call rebuilt.
  await expectDecoding(wall, [id]);
  await expect(wall.locator(`.tile[data-member="${id}"] .name`)).toHaveText("Phone");
  await expect(camera.locator("main.wall")).toHaveAttribute("data-connections-created", "1");
  await expect(wall.locator("main.wall")).toHaveAttribute("data-connections-created", "1");
  await flip.click();
  await expect.poll(() => cameraDevice(camera)).toBe(first);
  await expectDecoding(wall, [id]);

  // One fake camera: nothing to flip to.
  const single = await openWall(screen, room, { query: "&role=camera" });
  await expect(single.locator("main.wall")).toHaveAttribute("data-cameras", "1");
  await expect(single.locator("button.flip-camera")).toHaveCount(0);

  await close();
  await twoCameras.close();
});
