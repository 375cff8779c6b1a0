import { expect, Page, test } from "@playwright/test";
import jsQR from "jsqr";
import * as dgram from "node:dgram";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expectDecoding, freshRoom, memberId, openWall } from "./helpers";
import { OwnServer } from "./own-server";

/**
 * The address the server puts in the QR code: the one of the default route when there is one,
 * else its first LAN IPv4 address, in its own order.
 */
async function firstLanAddress(): Promise<string | undefined> {
  const addresses = Object.values(os.networkInterfaces())
    .flat()
    .filter((entry) => entry && entry.family === "IPv4" && !entry.internal)
    .map((entry) => entry!.address)
    .filter((address) => !address.startsWith("169.254."));
  const routed = await new Promise<string | undefined>((resolve) => {
    // Connecting a UDP socket sends nothing: it only asks the kernel for the route.
    const socket = dgram.createSocket("udp4");
    socket.on("error", () => resolve(undefined));
    socket.connect(9, "192.0.2.1", () => {
      resolve(socket.address().address);
      socket.close();
    });
  });
  if (routed && addresses.includes(routed)) return routed;
  const key = (address: string) => address.split(".").map(Number).reduce((n, part) => n * 256 + part, 0);
  return addresses.sort((a, b) => key(a) - key(b))[0];
}

/** Reads the QR code the page shows as a phone's camera would: from its pixels. */
async function readQrCode(page: Page): Promise<string | undefined> {
  const size = 400;
  const pixels = await page.locator(".invite .qr svg").first().evaluate(async (svg, size) => {
    const image = new Image();
    image.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(new XMLSerializer().serializeToString(svg));
    await image.decode();
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = size;
    const context = canvas.getContext("2d")!;
    context.imageSmoothingEnabled = false;
    context.drawImage(image, 0, 0, size, size);
    return Array.from(context.getImageData(0, 0, size, size).data);
  }, size);
  return jsQR(Uint8ClampedArray.from(pixels), size, size)?.data;
}

test("over https: two tabs decode each other through wss, and the empty wall offers a QR code", async ({ browser }) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "portals-e2e-tls-"));
  const port = 3013;
  // Every interface, as --tls-self-signed listens by default, so that the QR code carries a
  // LAN address; the tests reach it on 127.0.0.1.
  const server = new OwnServer(
    port,
    { PORTALS_TLS_SELF_SIGNED: "true", PORTALS_DATA_DIR: dataDir, LEPTOS_SITE_ADDR: `0.0.0.0:${port}` },
    true,
  );
  await server.start();
  // A phone's person accepts the certificate once; Chromium is told to.
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const room = freshRoom("tls");
  const sockets: string[] = [];
  context.on("page", (page) => page.on("websocket", (socket) => sockets.push(socket.url())));

  const first = await openWall(context, room, { base: server.base });
  expect(await first.evaluate(() => window.isSecureContext)).toBe(true);
  await expect(first.locator('[data-empty="true"] .invite .qr svg')).toBeVisible();
  const lan = await firstLanAddress();
  const expected = `https://${lan ?? "127.0.0.1"}:${port}/?room=${room}&role=camera`;
  await expect(first.locator('[data-empty="true"] .share-link')).toHaveText(expected);
  expect(await readQrCode(first)).toBe(expected);
  await first.screenshot({ path: test.info().outputPath("empty-wall-with-qr-code.png") });

  const second = await openWall(context, room, { base: server.base });
  const ids = [await memberId(first), await memberId(second)];
  await expectDecoding(first, [ids[1]]);
  await expectDecoding(second, [ids[0]]);
  const portals = sockets.filter((url) => url.includes("/portal"));
  expect(portals.length).toBeGreaterThanOrEqual(2);
  for (const url of portals) expect(url).toMatch(new RegExp(`^wss://127\\.0\\.0\\.1:${port}/portal\\?`));

  // "Add a camera" shows the same invitation over a wall that is no longer empty.
  await second.locator("button.add-camera").click();
  await expect(second.locator('[data-adding="true"] .share-link')).toHaveText(expected);
  await second.screenshot({ path: test.info().outputPath("add-a-camera.png") });
  await second.locator("button.close-invite").click();
  await expect(second.locator('[data-adding="true"]')).toHaveCount(0);

  await context.close();
  await server.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});
