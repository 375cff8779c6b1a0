import { expect, test } from "@playwright/test";
import { hkdfSync, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { decodedMembers, expectDecoding, freshRoom, memberId, openWall, pageErrors, printConsoleOnFailure, tiles } from "./helpers";

test.afterEach(printConsoleOnFailure);

/** A room key as the picker makes them: 256 random bits, base64url without padding. */
function newKey(): string {
  return randomBytes(32).toString("base64url");
}

test("a private room: the same key decodes, another key sees nobody, the server relays no SDP in the clear", async ({ browser, request }) => {
  const context = await browser.newContext();
  // Every signalling frame of every page, both ways, as the server saw them.
  const frames: string[] = [];
  context.on("page", (page) =>
    page.on("websocket", (socket) => {
      socket.on("framesent", (frame) => frames.push(String(frame.payload)));
      socket.on("framereceived", (frame) => frames.push(String(frame.payload)));
    }),
  );
  const room = freshRoom("private");
  const key = newKey();
  const a = await openWall(context, room, { fragment: `#k=${key}` });
  const b = await openWall(context, room, { fragment: `#k=${key}` });
  const [idA, idB] = [await memberId(a), await memberId(b)];
  await expectDecoding(a, [idB]);
  await expectDecoding(b, [idA]);
  await expect(a.locator("main.wall")).toHaveAttribute("data-private", "true");
  await expect(a.locator(".private-room")).toBeVisible();

  // Another key for the same name: a room of its own, on both sides.
  const other = await browser.newContext();
  const c = await openWall(other, room, { fragment: `#k=${newKey()}` });
  await expect(c.locator(".empty-room")).toContainText("Nobody else with this key is here");
  // Long enough for an info and a negotiation, had the server put them together.
  await c.waitForTimeout(2_000);
  expect(await tiles(c)).toEqual([]);
  const idC = await memberId(c);
  for (const page of [a, b]) {
    expect((await tiles(page)).map((tile) => tile.member)).not.toContain(idC);
  }
  expect(await decodedMembers(a)).toEqual([idB]);
  // The picker's list has no private room, though two are open under this name.
  const rooms: { name: string }[] = await (await request.get("/api/rooms")).json();
  expect(rooms.map((listed) => listed.name)).not.toContain(room);
  // Without the key: the public room of that name, empty too.
  const keyless = await openWall(other, room);
  await expect(keyless.locator(".empty-room")).toContainText("Given a private link?");
  expect(await tiles(keyless)).toEqual([]);

  // What went through the server: descriptions and candidates, all sealed.
  const relayed = frames.filter((frame) => /"type":"(description|candidate)"/.test(frame));
  expect(relayed.filter((frame) => frame.includes('"type":"description"')).length).toBeGreaterThanOrEqual(4);
  expect(relayed.filter((frame) => frame.includes('"type":"candidate"')).length).toBeGreaterThan(0);
  for (const frame of relayed) {
    expect(frame).not.toContain("a=fingerprint");
    expect(frame).not.toContain("candidate:");
    expect(frame).not.toContain('"sdp"');
    expect(frame).toContain('"sealed"');
  }
  // Nothing failed to open between the two.
  for (const page of [a, b]) await expect(page.locator("main.wall")).toHaveAttribute("data-sealing-dropped", "0");

  expect(pageErrors(a).concat(pageErrors(b), pageErrors(c))).toEqual([]);
  await other.close();
  await context.close();
});

/** The room verifier of PROTOCOL.md, derived here with Node's own HKDF. */
function verifierOf(key: string, room: string): string {
  return Buffer.from(hkdfSync("sha256", Buffer.from(key, "base64url"), room, "portals/v1 verifier", 32)).toString("base64url");
}

test("a member with the verifier but not the key (what a hostile server can make) gets no tile, and what it sends is dropped", async ({ browser }) => {
  const context = await browser.newContext();
  const room = freshRoom("impostor");
  const key = newKey();
  // The impostor joins first, with the verifier the server would know.
  const impostor = await context.newPage();
  await impostor.goto("/healthz");
  await impostor.evaluate(
    ({ room, verifier }) =>
      new Promise<void>((resolve) => {
        const url = new URL("/portal", location.href);
        url.protocol = url.protocol.replace(/^http/, "ws");
        url.search = new URLSearchParams({ room, verifier }).toString();
        const socket = new WebSocket(url);
        const heard: any[] = [];
        (window as any).impostor = { socket, heard };
        socket.onmessage = (event) => {
          const message = JSON.parse(event.data);
          heard.push(message);
          if (message.type === "welcome") resolve();
        };
      }),
    { room, verifier: verifierOf(key, room) },
  );
  const wall = await openWall(context, room, { fragment: `#k=${key}` });
  // The wall, a newcomer, offers to the member it was told of: sealed, which the impostor
  // cannot read.
  await impostor.waitForFunction(() => (window as any).impostor.heard.some((m: any) => m.type === "description"));
  const offer = await impostor.evaluate(() => (window as any).impostor.heard.find((m: any) => m.type === "description"));
  expect(offer.description.type).toBe("offer");
  expect(offer.description.sdp).toBeUndefined();
  expect(typeof offer.description.sealed).toBe("string");
  // It answers in the clear, then with something shaped like a sealed message, and a candidate.
  await impostor.evaluate((target) => {
    const { socket } = (window as any).impostor;
    const send = (type: string, payload: unknown) => socket.send(JSON.stringify({ type, [type]: payload, target }));
    send("description", { type: "answer", sdp: "v=0\r\n" });
    send("description", { type: "answer", sealed: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" });
    send("candidate", { candidate: "candidate:1 1 udp 1 10.0.0.1 9 typ host", sdpMid: "0", sdpMLineIndex: 0 });
  }, await memberId(wall));
  await expect(wall.locator("main.wall")).toHaveAttribute("data-sealing-dropped", "3");
  expect(await tiles(wall)).toEqual([]);
  // Its tile is made, and nobody can see, click or hear of it.
  const unseen = await wall.evaluate(() =>
    [...document.querySelectorAll<HTMLElement>(".tile:not(.self)")].map((tile) => ({
      opacity: getComputedStyle(tile).opacity,
      clicks: getComputedStyle(tile).pointerEvents,
      hidden: tile.getAttribute("aria-hidden"),
      tab: tile.tabIndex,
    })),
  );
  expect(unseen).toEqual([{ opacity: "0", clicks: "none", hidden: "true", tab: -1 }]);
  // Once it has had a few seconds to prove it holds the key, the wall says it is alone.
  await expect(wall.locator(".empty-room")).toContainText("Nobody else with this key is here", { timeout: 10_000 });
  expect(await tiles(wall)).toEqual([]);
  await context.close();
});

test("this browser derives the verifier and seals exactly as the fixed vectors say", async ({ browser }) => {
  const vectors = JSON.parse(
    fs.readFileSync(path.join(__dirname, "..", "..", "tests", "vectors", "private-room.json"), "utf8"),
  );
  const context = await browser.newContext();
  // The vectors are for the room `home`: a wall of that room, with the key of the vectors.
  const page = await openWall(context, vectors.room, { query: "&role=wall", fragment: `#k=${vectors.key}` });
  const hook = () => (window as unknown as { __portals?: { privateRoom?: unknown } }).__portals?.privateRoom;
  await page.waitForFunction(hook);
  expect(await page.evaluate(() => (window as any).__portals.privateRoom.verifier)).toBe(vectors.verifier);
  for (const message of vectors.messages) {
    const sealed = await page.evaluate(
      ([kind, from, to, plaintext, nonce]) => (window as any).__portals.privateRoom.seal(kind, from, to, plaintext, nonce),
      [message.kind, message.from, message.to, message.plaintext, vectors.nonceHex],
    );
    expect(sealed).toBe(message.sealed);
  }
  await context.close();
});

test("a damaged key says so, and joins nothing", async ({ browser }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const sockets: string[] = [];
  page.on("websocket", (socket) => sockets.push(socket.url()));
  await page.goto(`/?room=${freshRoom("damaged")}&debug#k=not-a-key`);
  await expect(page.locator("main.wall")).toHaveAttribute("data-status", "fatal");
  await expect(page.locator("body")).toContainText("This private link's key is damaged");
  // Not the public room of that name either: no signalling socket at all (the page decides
  // before it would open one).
  expect(sockets.filter((url) => url.includes("/portal"))).toEqual([]);
  await context.close();
});

test("a key pasted into the address bar takes the page to the private room", async ({ browser }) => {
  const context = await browser.newContext();
  const room = freshRoom("pasted");
  const page = await openWall(context, room);
  await expect(page.locator("main.wall")).not.toHaveAttribute("data-private", "true");
  await page.evaluate((key) => (location.hash = `#k=${key}`), newKey());
  await expect(page.locator("main.wall")).toHaveAttribute("data-private", "true");
  await expect(page.locator("main.wall")).toHaveAttribute("data-status", "joined");
  await context.close();
});

test("New private room opens a room of its own, whose invite carries the key", async ({ browser }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto("/");
  // Clicked until the hydrated page answers: before hydration the button does nothing.
  await expect(async () => {
    await page.locator(".new-private-room").click({ timeout: 1_000 });
    await expect(page).toHaveURL(/room=private-/, { timeout: 1_000 });
  }).toPass();
  await expect(page.locator("main.wall")).toHaveAttribute("data-status", "joined");
  const url = new URL(page.url());
  expect(url.searchParams.get("room")).toMatch(/^private-[0-9a-f]{10}$/);
  const key = url.hash.replace(/^#k=/, "");
  expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/);
  await expect(page.locator("main.wall")).toHaveAttribute("data-private", "true");
  const link = page.locator(".empty-room .share-link");
  await expect(link).toHaveAttribute("href", new RegExp(`&role=camera#k=${key}$`));
  await expect(page.locator(".empty-room .qr svg")).toBeVisible();
  fs.mkdirSync(path.join(__dirname, "..", "..", "target", "shots"), { recursive: true });
  await page.screenshot({ path: path.join(__dirname, "..", "..", "target", "shots", "private-room.png") });
  await context.close();
});
