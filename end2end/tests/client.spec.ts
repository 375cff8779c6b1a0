import { expect, Page, test } from "@playwright/test";
import {
  connectionsCreated,
  decodedMembers,
  expectDecoding,
  freshRoom,
  memberId,
  openWall,
  pageErrors,
  printConsoleOnFailure,
  tiles,
  twoDecodingTabs,
} from "./helpers";
import {
  cutSignalling,
  cutSignallingUntilRestored,
  installHooks,
  mediaRequests,
  offersSentTo,
  restoreSignalling,
  sendersOf,
  videoDirections,
} from "./hooks";
import { OwnServer } from "./own-server";

test.afterEach(printConsoleOnFailure);

test("a camera granted after the room was left is turned off", async ({ browser }) => {
  const context = await browser.newContext();
  await installHooks(context, { videoDelayMs: 3_000 });
  const page = await openWall(context, freshRoom("late-camera"));
  // Leave the room inside the app (the router keeps the page) while the prompt is still up.
  await page.locator("a.brand").click();
  await expect(page.locator("main.picker")).toBeVisible();
  await expect.poll(async () => (await mediaRequests(page)).map((request) => request.tracks)).toEqual([["ended"]]);
  await context.close();
});

test("a newcomer whose camera comes after its first offer sends it in that offer's video: one offer, not two", async ({
  browser,
}) => {
  const context = await browser.newContext();
  // The prompt outlasts the newcomer's first offer, made as soon as it hears of the room.
  await installHooks(context, { videoDelayMs: 3_000 });
  const room = freshRoom("camera-after-offer");
  const first = await openWall(context, room);
  await expect(first.locator("main.wall")).toHaveAttribute("data-camera", "on");
  const second = await openWall(context, room);
  const [firstId, secondId] = await Promise.all([first, second].map(memberId));
  // The offer went out while the camera was still being asked for: had it waited for the
  // camera, one offer would have been right without offering the video beforehand.
  await expect.poll(() => offersSentTo(second, firstId)).toBe(1);
  expect(await mediaRequests(second)).toEqual([{ audio: false, video: true, tracks: [] }]);
  await expectDecoding(second, [firstId]);
  await expectDecoding(first, [secondId]);
  expect(await offersSentTo(second, firstId)).toBe(1);
  expect(await offersSentTo(first, secondId)).toBe(0);
  expect(await videoDirections(second)).toEqual(["sendrecv"]);
  await context.close();
});

test("a newcomer whose camera is refused after its first offer stops offering video it will not send", async ({
  browser,
}) => {
  const context = await browser.newContext();
  await installHooks(context, { videoDelayMs: 1_500, videoError: "NotAllowedError" });
  const room = freshRoom("camera-refused-late");
  const firstContext = await browser.newContext();
  await installHooks(firstContext);
  const first = await openWall(firstContext, room);
  await expect(first.locator("main.wall")).toHaveAttribute("data-camera", "on");
  const second = await openWall(context, room);
  const firstId = await memberId(first);
  await expectDecoding(second, [firstId]);
  await expect(second.locator("main.wall")).toHaveAttribute("data-camera", "denied");
  // The video it offered to send goes back to receiving only, and the first tab sees it as a
  // viewer, as one whose camera was refused before it offered.
  await expect.poll(() => videoDirections(second)).toEqual(["recvonly"]);
  const tile = first.locator(`.tile[data-member="${await memberId(second)}"]`);
  await expect(tile).toHaveAttribute("data-state", "connected");
  await expect(tile).toHaveAttribute("data-video", "false");
  await expect(tile.locator(".placeholder")).toContainText("watching only");
  await expectDecoding(second, [firstId]);
  expect(await offersSentTo(first, await memberId(second))).toBe(0);
  await context.close();
  await firstContext.close();
});

test("a microphone failure is told as a microphone failure", async ({ browser }) => {
  const context = await browser.newContext();
  await installHooks(context, { audioError: "NotReadableError" });
  const page = await openWall(context, freshRoom("mic-busy"));
  await page.locator("button.toggle-microphone").click();
  const notice = page.locator('[data-banner="notice"]');
  await expect(notice).toHaveText("The microphone is in use by another program.");
  await expect(page.locator("button.toggle-microphone")).toHaveAttribute("aria-pressed", "false");
  await expect(page.locator('[data-banner="camera"]')).toHaveCount(0);
  await context.close();
});

test("the mic toggled while its prompt is up opens one capture, and off means off", async ({ browser }) => {
  const context = await browser.newContext();
  await installHooks(context, { audioDelayMs: 2_000 });
  const { a } = await twoDecodingTabs(context, "mic-race");
  const audioRequests = async () => (await mediaRequests(a)).filter((request) => request.audio);

  // On, off, on during the 2 s prompt: one request, one audio sender.
  await toggleMicrophone(a, 3);
  await expect.poll(async () => (await audioRequests()).map((request) => request.tracks)).toEqual([["live"]]);
  await expect.poll(() => sendersOf(a, "audio")).toEqual([1]);

  // On, then off before the prompt is answered: nothing is sent and the device goes off.
  const { a: c } = await twoDecodingTabs(context, "mic-off");
  await toggleMicrophone(c, 2);
  await expect
    .poll(async () => (await mediaRequests(c)).filter((request) => request.audio).map((request) => request.tracks))
    .toEqual([["ended"]]);
  expect(await sendersOf(c, "audio")).toEqual([0]);
  await context.close();
});

/** Presses Mic `times` times, 300 ms apart: quicker than the prompt, slower than a frame. */
async function toggleMicrophone(page: Page, times: number): Promise<void> {
  await page.locator("button.toggle-microphone").evaluate(async (button: HTMLButtonElement, times) => {
    for (let i = 0; i < times; i++) {
      if (i > 0) await new Promise((resolve) => setTimeout(resolve, 300));
      button.click();
    }
  }, times);
}

/** The `a=fingerprint` of each peer connection's local description on `page`, open ones only. */
async function liveFingerprints(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    ((window as any).__hooks.peers as RTCPeerConnection[])
      .filter((peer) => peer.connectionState !== "closed" && peer.signalingState !== "closed")
      .map((peer) => /a=fingerprint:(.*)/.exec(peer.localDescription?.sdp ?? "")?.[1]?.trim() ?? ""),
  );
}

test("a tab that comes back under a new id sends nothing it queued under the old one", async ({ browser }) => {
  const server = new OwnServer(3014, { PORTALS_GRACE_PERIOD: "2s" });
  await server.start();
  try {
    const context = await browser.newContext();
    await installHooks(context);
    const { a, b, idA, idB } = await twoDecodingTabs(context, "new-id", { base: server.base });

    // Offline for longer than the grace period, with an offer made meanwhile (the microphone).
    await cutSignalling(a, 5_000);
    await expect(a.locator('[data-banner="reconnecting"]')).toBeVisible();
    await a.locator("button.toggle-microphone").click();
    await expect(b.locator(`.tile[data-member="${idA}"]`)).toHaveCount(0);
    await expect(a.locator("main.wall")).not.toHaveAttribute("data-member", idA, { timeout: 30_000 });
    await expect(a.locator("main.wall")).toHaveAttribute("data-status", "joined");
    const newA = await memberId(a);

    await expectDecoding(b, [newA]);
    await expectDecoding(a, [idB]);
    // Every description B got from the new id came from a connection A really has.
    const fingerprints = await liveFingerprints(a);
    const received = await b.evaluate(
      (from) =>
        ((window as any).__hooks.received as { type: string; from?: string; description?: { sdp: string } }[])
          .filter((message) => message.type === "description" && message.from === from)
          .map((message) => /a=fingerprint:(.*)/.exec(message.description!.sdp)?.[1]?.trim() ?? ""),
      newA,
    );
    expect(received.length).toBeGreaterThan(0);
    for (const fingerprint of received) expect(fingerprints).toContain(fingerprint);
    expect((await tiles(b)).map((tile) => tile.member)).toEqual([newA]);
    await context.close();
  } finally {
    await server.stop();
  }
});

test("a camera that stops is shown stopped on both sides, and the Camera button turns it off and on", async ({ browser }) => {
  const context = await browser.newContext();
  await installHooks(context);
  const { a, b, idB } = await twoDecodingTabs(context, "camera-ends");
  const tileOfB = a.locator(`.tile[data-member="${idB}"]`);

  // Unplugged: the browser ends the track by itself.
  await b.evaluate(() => {
    const requests = (window as any).__hooks.requests as { video: boolean; stream: MediaStream }[];
    const track = requests.find((request) => request.video)!.stream.getVideoTracks()[0];
    track.stop();
    track.dispatchEvent(new Event("ended"));
  });
  await expect(b.locator('[data-banner="camera"]')).toContainText("The camera stopped");
  await expect(b.locator("main.wall")).toHaveAttribute("data-camera", "unavailable");
  await expect(tileOfB).toHaveAttribute("data-video", "false");
  await expect(tileOfB.locator(".placeholder")).toContainText("Camera off");

  // The button asks again.
  const camera = b.locator("button.toggle-camera");
  await expect(camera).toHaveAttribute("aria-pressed", "false");
  await camera.click();
  await expect(b.locator("main.wall")).toHaveAttribute("data-camera", "on");
  await expect(b.locator('[data-banner="camera"]')).toHaveCount(0);
  await expectDecoding(a, [idB]);

  // Off and on with the button: the others see a viewer, then the camera again, on the same
  // connection and the same media section.
  await camera.click();
  await expect(b.locator("main.wall")).toHaveAttribute("data-camera", "off");
  await expect(tileOfB).toHaveAttribute("data-video", "false");
  // The last frame stays in the video element: the placeholder hides it, not just labels it.
  await expect(tileOfB.locator(".placeholder")).toHaveCSS("background-color", "rgb(0, 0, 0)");
  await camera.click();
  await expectDecoding(a, [idB]);
  expect(await connectionsCreated(a)).toBe(1);
  const videoSections = await b.evaluate(() =>
    ((window as any).__hooks.peers as RTCPeerConnection[])
      .filter((peer) => peer.connectionState !== "closed")
      .map((peer) => peer.getTransceivers().filter((t) => t.receiver.track.kind === "video").length),
  );
  expect(videoSections).toEqual([1]);
  expect(pageErrors(a).concat(pageErrors(b))).toEqual([]);
  await context.close();
});

test("signalling cut for 10 s: the video plays on, and the tab comes back with its id and tiles", async ({ browser }) => {
  const context = await browser.newContext();
  await installHooks(context);
  const room = freshRoom("cut");
  const pages = [];
  for (let i = 0; i < 3; i++) pages.push(await openWall(context, room));
  const ids = await Promise.all(pages.map(memberId));
  for (const [i, page] of pages.entries()) await expectDecoding(page, ids.filter((_, j) => j !== i));
  const [cut] = pages;
  const created = await connectionsCreated(cut);

  await cutSignalling(cut, 10_000);
  const banner = cut.locator('[data-banner="reconnecting"]');
  await expect(banner).toContainText("Reconnecting in");
  // The live region says what happened once; the countdown beside it is not re-read.
  const status = banner.locator('[role="status"]');
  await expect(status).toHaveText(/^[^0-9]*$/);
  await status.evaluate((element) => ((element as any).__seen = true));
  expect(await decodedMembers(cut, 1_500)).toEqual(ids.slice(1).sort());
  expect(await status.evaluate((element) => (element as any).__seen === true)).toBe(true);

  await expect(cut.locator("main.wall")).toHaveAttribute("data-status", "joined", { timeout: 30_000 });
  await expect(banner).toHaveCount(0);
  expect(await memberId(cut)).toBe(ids[0]);
  expect((await tiles(cut)).map((tile) => tile.member).sort()).toEqual(ids.slice(1).sort());
  for (const [i, page] of pages.entries()) await expectDecoding(page, ids.filter((_, j) => j !== i));
  expect(await connectionsCreated(cut), "no connection was rebuilt").toBe(created);
  await context.close();
});

test("a peer away while the other offers again and again gets the newest offer when it comes back, not a pile", async ({ browser }) => {
  const server = new OwnServer(3015, { PORTALS_GRACE_PERIOD: "60s" });
  await server.start();
  try {
    const context = await browser.newContext();
    await installHooks(context);
    const { a, b, idA, idB } = await twoDecodingTabs(context, "away", { base: server.base });
    const since = await b.evaluate(() => (window as any).__hooks.received.length as number);
    const offeredBefore = await offersSentTo(a, idB);

    // B's signalling is away while A renegotiates (its microphone). A's offer goes unanswered,
    // and B stays away until A's watchdog has offered again twice: the server must hold only
    // the newest of A's three offers. B comes back (a reconnect backoff of at most 10 s) long
    // before A's next try, eight watchdog looks (32 s) later, so exactly one offer reaches it.
    await cutSignallingUntilRestored(b);
    await expect(b.locator('[data-banner="reconnecting"]')).toBeVisible();
    await a.locator("button.toggle-microphone").click();
    await expect
      .poll(async () => (await offersSentTo(a, idB)) - offeredBefore, { timeout: 40_000, intervals: [500] })
      .toBe(3);
    await restoreSignalling(b);
    await expect(b.locator("main.wall")).toHaveAttribute("data-status", "joined", { timeout: 20_000 });
    expect(await memberId(b)).toBe(idB);

    await expect.poll(() => sendersOf(a, "audio")).toEqual([1]);
    await expect
      .poll(() =>
        b.evaluate(() =>
          ((window as any).__hooks.peers as RTCPeerConnection[])
            .filter((peer) => peer.connectionState !== "closed")
            .map((peer) =>
              peer.getTransceivers().filter(
                (t) => t.receiver.track.kind === "audio" && /recv/.test(t.currentDirection ?? ""),
              ).length,
            ),
        ),
      )
      .toEqual([1]);
    const offers = await b.evaluate(
      ({ since, from }) =>
        ((window as any).__hooks.received as { type: string; from?: string; description?: { type: string } }[])
          .slice(since)
          .filter((message) => message.type === "description" && message.from === from && message.description?.type === "offer")
          .length,
      { since, from: idA },
    );
    expect(offers, "offers B received from A after coming back").toBe(1);
    expect(await offersSentTo(a, idB), "A sent no offer after B came back").toBe(offeredBefore + 3);
    await expectDecoding(a, [idB]);
    await expectDecoding(b, [idA]);
    await context.close();
  } finally {
    await server.stop();
  }
});

test("tiles can be reached with the keyboard and their videos have names", async ({ browser }) => {
  const context = await browser.newContext();
  const room = freshRoom("a11y");
  const a = await openWall(context, room);
  const b = await openWall(context, room);
  const idB = await memberId(b);
  const tile = a.locator(`.tile[data-member="${idB}"]`);
  await expect(tile).toHaveAttribute("tabindex", "0");
  await expect(tile.locator("video")).toHaveAttribute("aria-label", `camera ${idB.slice(0, 6)}`);
  await tile.focus();
  await expect(tile).toBeFocused();
  await context.close();
});

test("a tile believes decoded frames over a remote track stuck on muted, and the peer's Camera off at once", async ({ browser }) => {
  const context = await browser.newContext();
  await installHooks(context);
  const { a, b, idB } = await twoDecodingTabs(context, "stuck-mute");
  const tileOfB = a.locator(`.tile[data-member="${idB}"]`);
  await expect(tileOfB).toHaveAttribute("data-video", "true");

  // What Chromium did once under load: the remote track goes muted and stays so while its
  // frames go on playing. No `unmute` comes, and no `mute` either from now on.
  await a.evaluate(() => {
    for (const peer of (window as any).__hooks.peers as RTCPeerConnection[]) {
      for (const receiver of peer.getReceivers()) {
        if (receiver.track.kind !== "video") continue;
        Object.defineProperty(receiver.track, "muted", { get: () => true });
        receiver.track.dispatchEvent(new Event("mute"));
        // A capturing listener on the track itself runs before the app's own.
        receiver.track.addEventListener("mute", (event) => event.stopImmediatePropagation(), { capture: true });
      }
    }
  });
  await expect(tileOfB).toHaveAttribute("data-video", "false");
  // Two watchdog looks (4 s apart) see the frames move on.
  await expect(tileOfB).toHaveAttribute("data-video", "true");
  await expectDecoding(a, [idB]);

  // B turns its camera off. The track says nothing new, but the negotiation that follows
  // says B no longer sends: the tile believes that at once, not a look or two later when the
  // frames have stopped, and the frames decoded before it never bring the picture back.
  await a.evaluate((idB) => {
    const tile = document.querySelector<HTMLElement>(`.tile[data-member="${idB}"]`)!;
    const changes: { video: string; at: number }[] = [];
    (window as any).__videoChanges = changes;
    new MutationObserver(() => changes.push({ video: tile.dataset.video!, at: Date.now() })).observe(tile, {
      attributes: true,
      attributeFilter: ["data-video"],
    });
  }, idB);
  const clickedAt = Date.now();
  await b.locator("button.toggle-camera").click();
  await expect(b.locator("main.wall")).toHaveAttribute("data-camera", "off");
  await expect(tileOfB).toHaveAttribute("data-video", "false");
  await expect(tileOfB.locator(".placeholder")).toContainText("Camera off");
  const changes = () => a.evaluate(() => (window as any).__videoChanges as { video: string; at: number }[]);
  const off = await changes();
  expect(off.map((change) => change.video)).toEqual(["false"]);
  // A look is 4 s: judged by the frames alone, the tile would go off 4 to 8 s after.
  expect(off[0].at - clickedAt).toBeLessThan(2_500);
  // Three more looks (12 s) without a single change back.
  await a.waitForTimeout(12_500);
  expect((await changes()).map((change) => change.video)).toEqual(["false"]);
  expect(pageErrors(a).concat(pageErrors(b))).toEqual([]);
  await context.close();
});

test("a newcomer that hears of the room late is waited for: no offer crosses its own", async ({ browser }) => {
  const context = await browser.newContext();
  const { room, a, b, idA, idB } = await twoDecodingTabs(context, "late-newcomer");
  const offeredFirst: string[] = [];
  for (const page of [a, b]) {
    page.on("console", (message) => {
      if (/no offer came, offering first/.test(message.text())) offeredFirst.push(message.text());
    });
  }
  // The newcomer's page handles what the server tells it 3 s late, as the eighth tab on two
  // busy cores did: the others heard of it at once. Had they offered first after a short wait,
  // their offers would have crossed its own, and Chromium never gathers candidates on a
  // connection whose very first offer was rolled back.
  const slow = await browser.newContext();
  await installHooks(slow, { holdFirstMessagesMs: 3_000 });
  const c = await openWall(slow, room);
  const idC = await memberId(c);
  await expectDecoding(c, [idA, idB].sort());
  await expectDecoding(a, [idB, idC].sort());
  await expectDecoding(b, [idA, idC].sort());
  expect(offeredFirst).toEqual([]);
  await slow.close();
  await context.close();
});

test("eight tabs with cameras each decode the seven others", async ({ browser }) => {
  test.setTimeout(120_000);
  // 8 × 7 streams: at the fake camera's 720p, two cores cannot encode them all and ICE checks
  // starve (connections fail); at 320×180 the test is about the mesh, not the encoder.
  const context = await browser.newContext({ viewport: { width: 640, height: 360 } });
  await installHooks(context, { videoSize: { width: 320, height: 180, frameRate: 15 } });
  const room = freshRoom("eight");
  const pages = [];
  for (let i = 0; i < 8; i++) pages.push(await openWall(context, room));
  const ids = await Promise.all(pages.map(memberId));
  for (const [i, page] of pages.entries()) {
    await expectDecoding(page, ids.filter((_, j) => j !== i), 60_000);
    // A tile that decodes says so: no "Camera off" over a playing video.
    await expect.poll(async () => (await tiles(page)).filter((tile) => !tile.hasVideo).length).toBe(0);
  }
  expect(await Promise.all(pages.map(connectionsCreated))).toEqual(Array(8).fill(7));
  await context.close();
});
