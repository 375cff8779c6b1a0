import { expect, Page, test } from "@playwright/test";
import { Coturn } from "./coturn";
import { expectDecoding, freshRoom, memberId, openWall, printConsoleOnFailure } from "./helpers";
import { installHooks } from "./hooks";
import { OwnServer } from "./own-server";

test.afterEach(printConsoleOnFailure);

/** The candidate pair each open connection of `page` sends on: its kinds and its local
 * candidate, from `getStats` (the transport's selected pair, or a pair marked selected where a
 * browser reports it that way). */
async function selectedPairs(page: Page): Promise<{ local: string; remote: string; localId: string }[]> {
  return page.evaluate(async () => {
    const pairs = [];
    for (const peer of (window as any).__hooks.peers as RTCPeerConnection[]) {
      if (peer.connectionState === "closed") continue;
      const reports = new Map<string, any>();
      (await peer.getStats()).forEach((report: any) => reports.set(report.id, report));
      const all = [...reports.values()];
      const transport = all.find((report) => report.type === "transport" && report.selectedCandidatePairId);
      const pair = transport
        ? reports.get(transport.selectedCandidatePairId)
        : all.find((report) => report.type === "candidate-pair" && report.selected);
      if (!pair) continue;
      const local = reports.get(pair.localCandidateId);
      const remote = reports.get(pair.remoteCandidateId);
      pairs.push({ local: local?.candidateType, remote: remote?.candidateType, localId: `${local?.address}:${local?.port}` });
    }
    return pairs;
  });
}

/** The `rtc` messages (fresh TURN credentials) the page has received. */
async function rtcReceived(page: Page): Promise<{ iceServers: { username?: string }[] }[]> {
  return page.evaluate(() =>
    ((window as any).__hooks.received as { type: string; rtc?: unknown }[])
      .filter((message) => message.type === "rtc")
      .map((message) => message.rtc as { iceServers: { username?: string }[] }),
  );
}

test("relayed only: two tabs decode each other through coturn, on relay candidates both ways", async ({ browser }) => {
  const turn = new Coturn("end-to-end turn secret");
  await turn.start();
  const server = new OwnServer(3021, {
    PORTALS_TURN_URLS: turn.url,
    PORTALS_TURN_SECRET: turn.secret,
    PORTALS_ICE_TRANSPORT_POLICY: "relay",
  });
  await server.start();
  const context = await browser.newContext();
  await installHooks(context);
  try {
    const room = freshRoom("turn");
    const a = await openWall(context, room, { base: server.base });
    const b = await openWall(context, room, { base: server.base });
    const [idA, idB] = [await memberId(a), await memberId(b)];
    await expectDecoding(a, [idB]);
    await expectDecoding(b, [idA]);
    for (const page of [a, b]) {
      const pairs = await selectedPairs(page);
      expect(pairs.map(({ local, remote }) => [local, remote])).toEqual([["relay", "relay"]]);
    }
  } finally {
    await context.close();
    await server.stop();
    await turn.stop();
  }
});

test("credentials that expire: refreshed before they do, and an ICE restart after finds the relay again", async ({ browser }) => {
  const turn = new Coturn("end-to-end turn secret");
  await turn.start();
  // Fresh ones at 15 s, and the first expire at 20 s.
  const server = new OwnServer(3022, {
    PORTALS_TURN_URLS: turn.url,
    PORTALS_TURN_SECRET: turn.secret,
    PORTALS_TURN_TTL: "20s",
  });
  await server.start();
  const context = await browser.newContext();
  await installHooks(context);
  try {
    const room = freshRoom("turn-ttl");
    // The page forces relay itself here (`&relay`, with `&debug`): the server does not.
    const a = await openWall(context, room, { base: server.base, query: "&debug&relay" });
    const b = await openWall(context, room, { base: server.base, query: "&debug&relay" });
    const [idA, idB] = [await memberId(a), await memberId(b)];
    await expectDecoding(a, [idB]);
    await expectDecoding(b, [idA]);
    const before = await selectedPairs(a);
    expect(before.map(({ local }) => local)).toEqual(["relay"]);
    const joined = Date.now();

    // Fresh credentials arrive, for this member, good for later than the first.
    await expect.poll(async () => (await rtcReceived(a)).length, { timeout: 25_000 }).toBeGreaterThan(0);
    const [fresh] = await rtcReceived(a);
    const username = fresh.iceServers.find((server) => server.username)?.username ?? "";
    expect(username).toMatch(new RegExp(`^\\d+:${idA}$`));
    // The first ones have expired (20 s after joining, and a second of rounding).
    await a.waitForTimeout(Math.max(0, joined + 21_500 - Date.now()));

    // A network change would do this: the restart gathers new relay candidates, which only
    // the fresh credentials can allocate.
    await a.evaluate(() => {
      for (const peer of (window as any).__hooks.peers as RTCPeerConnection[]) {
        if (peer.connectionState !== "closed") peer.restartIce();
      }
    });
    await expect
      .poll(async () => (await selectedPairs(a)).map(({ local, localId }) => [local, localId !== before[0].localId]), {
        timeout: 20_000,
      })
      .toEqual([["relay", true]]);
    await expectDecoding(a, [idB]);
    await expectDecoding(b, [idA]);
  } finally {
    await context.close();
    await server.stop();
    await turn.stop();
  }
});

test("credentials signed with the wrong secret: no connection, and the tile says the relay refused them", async ({ browser }) => {
  const turn = new Coturn("end-to-end turn secret");
  await turn.start();
  const server = new OwnServer(3023, {
    PORTALS_TURN_URLS: turn.url,
    PORTALS_TURN_SECRET: "not the relay's secret",
    PORTALS_ICE_TRANSPORT_POLICY: "relay",
  });
  await server.start();
  const context = await browser.newContext();
  await installHooks(context);
  try {
    const room = freshRoom("turn-wrong");
    const a = await openWall(context, room, { base: server.base });
    const b = await openWall(context, room, { base: server.base });
    for (const [page, other] of [
      [a, await memberId(b)],
      [b, await memberId(a)],
    ] as const) {
      const tile = page.locator(`.tile[data-member="${other}"]`);
      await expect(tile).toHaveAttribute("data-relay-problem", "refused");
      await expect(tile.locator(".placeholder")).toHaveText("No relay: the TURN server refused its credentials");
      expect(await tile.getAttribute("data-state")).not.toBe("connected");
    }
  } finally {
    await context.close();
    await server.stop();
    await turn.stop();
  }
});
