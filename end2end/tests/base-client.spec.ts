import { Browser, expect, Page, test } from "@playwright/test";
import {
  connectionsCreated,
  expectDecoding,
  freshRoom,
  memberId,
  openWall,
  pageWarnings,
  printConsoleOnFailure,
  watchConsole,
} from "./helpers";
import { framesDecoded, installHooks } from "./hooks";

test.afterEach(printConsoleOnFailure);

/**
 * A client that speaks only the base `@openlab/portals` 0.2 wire format, written the way its
 * PortalGun and Portal classes work: no `welcome`, no token, an `id` it makes up, and a brand
 * new RTCPeerConnection for every member on every `info`.
 */
async function startBaseClient(
  page: Page,
  room: string,
  options: { dropFirstOffers?: boolean; offerDelayMs?: number } = {},
): Promise<void> {
  const { dropFirstOffers = false, offerDelayMs = 0 } = options;
  watchConsole(page, "base");
  await page.goto("/healthz"); // any page of the same origin
  await page.evaluate(async ({ room, dropFirstOffers, offerDelayMs }) => {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true });
    const url = new URL("/portal", location.href);
    url.protocol = url.protocol.replace(/^http/, "ws");
    url.searchParams.set("room", room);
    url.searchParams.set("id", "chosen-by-the-client");
    const socket = new WebSocket(url);
    // What it says and hears, for the console printed when a test fails.
    const brief = (type: string, payload: any) =>
      type === "description" ? payload?.type : type === "candidate" ? payload?.candidate?.slice(0, 40) ?? "end" : "";
    const send = (type: string, payload: unknown, target?: string) => {
      console.log(`→ ${type} ${brief(type, payload)} to ${target?.slice(0, 6)}`);
      socket.send(JSON.stringify({ type, [type]: payload, target }));
    };
    type Portal = { peer: RTCPeerConnection; polite: boolean; makingOffer: boolean; ignoreOffer: boolean };
    const portals = new Map<string, Portal>();
    const state = {
      id: null as string | null,
      errors: [] as string[],
      serverErrors: [] as string[],
      portals,
      /** Per member: the offers it sent us, and how many of them were dropped. */
      offers: {} as Record<string, number>,
      /** Per member: the types of the descriptions it sent us, in order. */
      descriptions: {} as Record<string, string[]>,
      dropped: {} as Record<string, number>,
      /**
       * A member whose next offer a brand new connection answers, as when the base client
       * rebuilt on an `info` while that offer was on its way.
       */
      rebuildOnOfferFrom: null as string | null,
    };
    (window as any).base = Object.assign(state, { send });

    const open = (id: string, polite: boolean): Portal => {
      const peer = new RTCPeerConnection({});
      const portal = { peer, polite, makingOffer: false, ignoreOffer: false };
      peer.onnegotiationneeded = async () => {
        // A client that drops a first offer here only answers: its own offer would otherwise
        // often reach the tab first, the tab would answer it, and no offer of the tab's would
        // ever be there to drop.
        if (dropFirstOffers) return;
        // A slower machine than the tab's: the tab's own first offer would come first.
        if (offerDelayMs) await new Promise((resolve) => setTimeout(resolve, offerDelayMs));
        try {
          portal.makingOffer = true;
          await peer.setLocalDescription();
          send("description", peer.localDescription, id);
        } catch (error) {
          state.errors.push(String(error));
        } finally {
          portal.makingOffer = false;
        }
      };
      peer.onicecandidate = (event) => send("candidate", event.candidate, id);
      peer.onconnectionstatechange = () => console.log(`${id.slice(0, 6)}: ${peer.connectionState}`);
      peer.oniceconnectionstatechange = () => {
        if (peer.iceConnectionState === "failed") peer.restartIce();
      };
      peer.ontrack = (event) => {
        let video = document.getElementById(`v-${id}`) as HTMLVideoElement | null;
        if (!video) {
          video = document.createElement("video");
          video.id = `v-${id}`;
          video.dataset.member = id;
          video.autoplay = video.muted = video.playsInline = true;
          document.body.append(video);
        }
        video.srcObject = event.streams[0] ?? new MediaStream([event.track]);
      };
      for (const track of stream.getTracks()) peer.addTrack(track, stream);
      return portal;
    };

    socket.onmessage = async (event) => {
      const { type, [type]: payload, from } = JSON.parse(event.data);
      console.log(`← ${type} ${type === "info" ? JSON.stringify(payload) : brief(type, payload)} from ${from?.slice(0, 6)}`);
      if (type === "info") {
        state.id = payload.id;
        const present = new Set<string>();
        for (const member of payload.members) {
          present.add(member.id);
          portals.get(member.id)?.peer.close();
          portals.set(member.id, open(member.id, member.polite));
        }
        for (const [id, portal] of portals) {
          if (!present.has(id)) {
            portal.peer.close();
            portals.delete(id);
            document.getElementById(`v-${id}`)?.remove();
          }
        }
      } else if (type === "description") {
        (state.descriptions[from] ??= []).push(payload.type);
        let portal = portals.get(from);
        if (!portal) return;
        if (payload.type === "offer" && state.rebuildOnOfferFrom === from) {
          state.rebuildOnOfferFrom = null;
          portal.peer.close();
          portal = open(from, portal.polite);
          portals.set(from, portal);
        }
        // A stand-in for the base client's own misjudged collisions (it does not know that an
        // answer it is still applying makes a new offer no collision): the offer is lost.
        if (payload.type === "offer") {
          state.offers[from] = (state.offers[from] ?? 0) + 1;
          if (dropFirstOffers && state.offers[from] === 1) {
            state.dropped[from] = 1;
            return;
          }
        }
        const collision =
          payload.type === "offer" && (portal.makingOffer || portal.peer.signalingState !== "stable");
        portal.ignoreOffer = !portal.polite && collision;
        if (portal.ignoreOffer) return;
        try {
          await portal.peer.setRemoteDescription(payload);
          if (payload.type === "offer") {
            await portal.peer.setLocalDescription();
            send("description", portal.peer.localDescription, from);
          }
        } catch (error) {
          state.errors.push(String(error));
        }
      } else if (type === "candidate") {
        const portal = portals.get(from);
        if (!portal) return;
        try {
          await portal.peer.addIceCandidate(payload ?? undefined);
        } catch (error) {
          if (!portal.ignoreOffer) state.errors.push(`candidate: ${error}`);
        }
      } else if (type === "error") {
        // The base library tears everything down on any error; a compatible server must not
        // send one to a client that does nothing wrong.
        state.serverErrors.push(payload.code);
      }
    };
    await new Promise<void>((resolve) => {
      const wait = () => ((window as any).base.id ? resolve() : setTimeout(wait, 50));
      wait();
    });
  }, { room, dropFirstOffers, offerDelayMs });
}

async function baseId(page: Page): Promise<string> {
  return page.evaluate(() => (window as any).base.id as string);
}

/** Members whose video the base client decodes (size known, time moving). */
async function baseDecodes(page: Page): Promise<string[]> {
  const sample = () =>
    page.evaluate(() =>
      [...document.querySelectorAll<HTMLVideoElement>("video[data-member]")].map((video) => ({
        member: video.dataset.member!,
        width: video.videoWidth,
        time: video.currentTime,
      })),
    );
  const before = await sample();
  await page.waitForTimeout(700);
  return (await sample())
    .filter((v) => v.width > 0 && v.time > (before.find((b) => b.member === v.member)?.time ?? Infinity))
    .map((v) => v.member)
    .sort();
}

/** A base client in a fresh room, then one of our tabs (with `&debug` traces), both joined. */
async function baseClientAndDebugTab(browser: Browser, name: string) {
  const context = await browser.newContext();
  const room = freshRoom(name);
  const base = await context.newPage();
  await startBaseClient(base, room);
  const idBase = await baseId(base);
  const tab = await openWall(context, room);
  return { context, base, idBase, tab, idTab: await memberId(tab) };
}

/** The same, once the two decode each other, with every console line of the tab from then on. */
async function decodingBaseClientAndDebugTab(browser: Browser, name: string) {
  const pair = await baseClientAndDebugTab(browser, name);
  await expectDecoding(pair.tab, [pair.idBase]);
  await expect.poll(() => baseDecodes(pair.base), { timeout: 30_000 }).toEqual([pair.idTab]);
  const traces: string[] = [];
  pair.tab.on("console", (message) => traces.push(message.text()));
  return { ...pair, traces };
}

test("a base @openlab/portals client and the Leptos client see each other", async ({ browser }) => {
  const context = await browser.newContext();
  const room = freshRoom("compat");
  const base = await context.newPage();
  await startBaseClient(base, room);
  const idBase = await baseId(base);
  expect(idBase).not.toBe("chosen-by-the-client");

  const first = await openWall(context, room);
  const idFirst = await memberId(first);
  await expectDecoding(first, [idBase]);
  await expect.poll(() => baseDecodes(base), { timeout: 30_000 }).toEqual([idFirst]);

  // A second Leptos tab makes the base client rebuild every connection it has, the first
  // tab's included: the first tab must follow it onto the new connection.
  const second = await openWall(context, room);
  const idSecond = await memberId(second);
  await expectDecoding(second, [idBase, idFirst].sort());
  await expectDecoding(first, [idBase, idSecond].sort());
  await expect.poll(() => baseDecodes(base), { timeout: 30_000 }).toEqual([idFirst, idSecond].sort());
  for (const page of [first, second]) {
    await expect(page.locator(`.tile[data-member="${idBase}"]`)).toHaveCount(1);
  }
  expect(await base.evaluate(() => (window as any).base.serverErrors)).toEqual([]);
  for (const page of [first, second]) {
    expect(pageWarnings(page).filter((warning) => /candidate|remote description/.test(warning))).toEqual([]);
  }
  await context.close();
});

test("a base client in a room with a wall and a camera counts as both: it sees the camera and the wall sees it", async ({ browser }) => {
  const context = await browser.newContext();
  await installHooks(context);
  const room = freshRoom("compat-roles");
  const wall = await openWall(context, room, { query: "&role=wall" });
  const camera = await openWall(context, room, { query: "&role=camera" });
  const [idWall, idCamera] = [await memberId(wall), await memberId(camera)];
  const base = await context.newPage();
  await startBaseClient(base, room);
  const idBase = await baseId(base);

  await expectDecoding(wall, [idBase, idCamera].sort());
  // The wall sends nothing, so the base client shows the camera only; the camera decodes
  // nothing, the base client's offer of video notwithstanding.
  await expect.poll(() => baseDecodes(base), { timeout: 30_000 }).toEqual([idCamera]);
  await expect(camera.locator("main.wall")).toHaveAttribute("data-watchers", "2");
  expect(await framesDecoded(camera)).toBe(0);
  const wallVideo = await base.evaluate(
    (id) => (document.getElementById(`v-${id}`) as HTMLVideoElement | null)?.videoWidth ?? 0,
    idWall,
  );
  expect(wallVideo).toBe(0);
  expect(await base.evaluate(() => (window as any).base.serverErrors)).toEqual([]);
  await context.close();
});

test("a newcomer waits for the offer of a base client already in the room", async ({ browser }) => {
  // A base client offers to everyone on every `info`, the newcomer's included; had the
  // newcomer offered too, one side would roll back its first offer, and Chromium never
  // gathers candidates on such a connection. Its offer comes late here, as from a slow phone.
  const context = await browser.newContext();
  const room = freshRoom("base-offers");
  const base = await context.newPage();
  await startBaseClient(base, room, { offerDelayMs: 500 });
  const idBase = await baseId(base);
  const tab = await openWall(context, room);
  const idTab = await memberId(tab);
  await expectDecoding(tab, [idBase]);
  await expect.poll(() => baseDecodes(base), { timeout: 30_000 }).toEqual([idTab]);
  const descriptions = await base.evaluate((id) => (window as any).base.descriptions[id] as string[], idTab);
  expect(descriptions[0], "the tab's first description answers the base client's offer").toBe("answer");
  expect(await connectionsCreated(tab)).toBe(1);
  await context.close();
});

test("a reloaded tab offers to a base client at once: nobody told it of a newcomer", async ({ browser }) => {
  const { context, base, idBase, tab, idTab, traces } = await decodingBaseClientAndDebugTab(browser, "base-reload");
  await tab.reload();
  await expect(tab.locator("main.wall")).toHaveAttribute("data-status", "joined");
  expect(await memberId(tab)).toBe(idTab);
  await expectDecoding(tab, [idBase]);
  await expect.poll(() => baseDecodes(base), { timeout: 30_000 }).toEqual([idTab]);
  const opened = traces.filter((trace) => /opening a connection/.test(trace));
  expect(opened).toHaveLength(1);
  expect(opened[0]).toContain(`opening a connection to ${idBase.slice(0, 6)} (polite ${idTab > idBase}, first offer Ours,`);
  await context.close();
});

test("an offer the base client drops is made again", async ({ browser }) => {
  const context = await browser.newContext();
  const room = freshRoom("dropped");
  const base = await context.newPage();
  await startBaseClient(base, room, { dropFirstOffers: true });
  const idBase = await baseId(base);
  // The base client makes no offer of its own here: the tab's offer, made once it has waited
  // in vain for the base client's, is the first, and is dropped.
  const tab = await openWall(context, room);
  const idTab = await memberId(tab);
  await expectDecoding(tab, [idBase]);
  await expect.poll(() => baseDecodes(base), { timeout: 30_000 }).toEqual([idTab]);
  const offers = await base.evaluate((id) => [(window as any).base.dropped[id], (window as any).base.offers[id]], idTab);
  expect(offers[0], "the first offer was dropped").toBe(1);
  expect(offers[1], "and made again").toBeGreaterThanOrEqual(2);
  expect(await connectionsCreated(tab), "recovered without a new connection").toBe(1);
  // Candidates of offers that were dropped or rolled back belong to no ICE session we have:
  // they are set aside, not tried and reported as failures.
  expect(pageWarnings(tab).filter((warning) => /candidate/.test(warning))).toEqual([]);
  await context.close();
});

test("two tabs and a base client that joins last all decode each other", async ({ browser }) => {
  test.setTimeout(180_000);
  // Seen failing about one run in three: three rooms make a miss likely to show.
  for (let round = 0; round < 3; round++) {
    const context = await browser.newContext();
    const room = freshRoom(`base-last-${round}`);
    const first = await openWall(context, room);
    const second = await openWall(context, room);
    const [idFirst, idSecond] = [await memberId(first), await memberId(second)];
    await expectDecoding(first, [idSecond]);
    const base = await context.newPage();
    await startBaseClient(base, room);
    const idBase = await baseId(base);
    await expectDecoding(first, [idBase, idSecond].sort());
    await expectDecoding(second, [idBase, idFirst].sort());
    await expect.poll(() => baseDecodes(base), { timeout: 30_000 }).toEqual([idFirst, idSecond].sort());
    await context.close();
  }
});

test("a candidate of an ICE session the link no longer has is set aside, not reported", async ({ browser }) => {
  const { context, base, idBase, tab, idTab } = await baseClientAndDebugTab(browser, "stale-candidate");
  const setAside: string[] = [];
  tab.on("console", (message) => {
    if (/set aside/.test(message.text())) setAside.push(message.text());
  });
  await expectDecoding(tab, [idBase]);
  await base.evaluate((id) => {
    const stale = {
      candidate: "candidate:1 1 udp 2122260223 10.9.9.9 9 typ host",
      sdpMid: "0",
      sdpMLineIndex: 0,
      usernameFragment: "gone",
    };
    (window as any).base.send("candidate", stale, id);
  }, idTab);
  await expect.poll(() => setAside.length).toBe(1);
  expect(pageWarnings(tab).filter((warning) => /candidate/.test(warning))).toEqual([]);
  await context.close();
});

test("an answer from a connection the base client rebuilt is followed without a stall", async ({ browser }) => {
  const { context, base, idBase, tab, idTab, traces } = await decodingBaseClientAndDebugTab(browser, "rebuilt-answer");

  // The tab renegotiates (camera off), and a new connection of the base client answers: as
  // when it rebuilt on an `info` while the offer was on its way.
  await base.evaluate((id) => ((window as any).base.rebuildOnOfferFrom = id), idTab);
  await tab.locator("button.toggle-camera").click();
  await expect(tab.locator("main.wall")).toHaveAttribute("data-camera", "off");
  await expect.poll(() => base.evaluate(() => (window as any).base.rebuildOnOfferFrom)).toBe(null);

  // The answer is for our offer and our media sections: our connection takes it, and restarts
  // its own ICE session at once, so that it stops sending to the old connection's pair.
  await expectDecoding(tab, [idBase]);
  await tab.locator("button.toggle-camera").click();
  await expect.poll(() => baseDecodes(base), { timeout: 30_000 }).toEqual([idTab]);
  expect(await connectionsCreated(tab)).toBe(1);
  expect(traces.filter((trace) => /set aside|restarting ICE|offering again/.test(trace))).toEqual([
    `portals: ${idBase.slice(0, 6)}: answered by a new connection, restarting ICE at once`,
  ]);
  expect(await base.evaluate(() => (window as any).base.errors)).toEqual([]);
  expect(pageWarnings(tab).filter((warning) => /remote description|answer|candidate/.test(warning))).toEqual([]);
  await context.close();
});

test("a description the tab cannot apply does not undo the one that came after it", async ({ browser }) => {
  const { context, base, idBase, tab, idTab, traces } = await decodingBaseClientAndDebugTab(
    browser,
    "failed-description",
  );

  // An offer the tab's connection rejects, and right behind it a good one: an ICE restart of
  // the base client's connection, with a new ICE session. Whether the good one arrives before
  // the rejection is known is up to the browser, so this goes on until it has once.
  let overtaken = false;
  for (let attempt = 0; attempt < 6 && !overtaken; attempt++) {
    const from = traces.length;
    await base.evaluate(async (id) => {
      const base = (window as any).base;
      const peer: RTCPeerConnection = base.portals.get(id).peer;
      // Well-formed, so that it fails only once the connection tries it, later: its media
      // sections are not the ones the tab negotiated. Made before the restart, whose
      // candidates go out at once: they must not reach the tab before both offers do. (A
      // restart keeps the connection's certificate, so the fingerprint is already known.)
      const other = new RTCPeerConnection();
      other.addTransceiver("audio");
      const offer = await other.createOffer();
      other.close();
      const sdp = offer
        .sdp!.replace(/a=fingerprint:.*/, /a=fingerprint:.*/.exec(peer.localDescription!.sdp)![0])
        .replace(/a=ice-ufrag:.*/, "a=ice-ufrag:unusable");
      peer.onnegotiationneeded = null; // the offer is sent below, in one go with the bad one
      peer.restartIce();
      await peer.setLocalDescription();
      const good = peer.localDescription!;
      base.send("description", { type: "offer", sdp }, id);
      base.send("description", good, id);
    }, idTab);
    await expect
      .poll(() => base.evaluate((id) => (window as any).base.portals.get(id).peer.signalingState, idTab))
      .toBe("stable");
    await expectDecoding(tab, [idBase]);
    const seen = traces.slice(from);
    const offers = seen.flatMap((trace, index) => (/← Offer/.test(trace) ? [index] : []));
    const failed = seen.findIndex((trace) => /remote description from/.test(trace));
    expect(offers).toHaveLength(2);
    expect(failed).toBeGreaterThan(offers[0]);
    overtaken = failed > offers[1];
    // The restart's candidates are judged by its own ICE session, not by the one the tab had
    // before the bad offer.
    expect(seen.filter((trace) => /← candidate candidate:/.test(trace)).length).toBeGreaterThan(0);
    expect(seen.filter((trace) => /set aside/.test(trace))).toEqual([]);
  }
  expect(overtaken).toBe(true);
  await expect.poll(() => baseDecodes(base), { timeout: 30_000 }).toEqual([idTab]);
  expect(await connectionsCreated(tab)).toBe(1);
  expect(await base.evaluate(() => (window as any).base.errors)).toEqual([]);
  await context.close();
});
