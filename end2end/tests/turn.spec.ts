import { chromium, expect, Page, test } from "@playwright/test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromiumArgs } from "../playwright.config";
import { Coturn } from "./coturn";
import {
  decodedMembers,
  expectDecoding,
  freshRoom,
  memberId,
  openWall,
  printConsoleOnFailure,
  twoDecodingTabs,
} from "./helpers";
import { installHooks, openConnections } from "./hooks";
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

/** The TURN usernames the page was given, in order: in its `welcome`, then in each `rtc`. */
async function turnUsernames(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    ((window as any).__hooks.received as { type: string; welcome?: any; rtc?: any }[])
      .flatMap((message) => (message.type === "welcome" ? message.welcome.rtc : message.type === "rtc" ? message.rtc : null) ?? [])
      .flatMap((rtc: { iceServers: { username?: string }[] }) => rtc.iceServers)
      .flatMap((server) => (server.username ? [server.username] : [])),
  );
}

/**
 * Runs `body` with a coturn and a portals server of their own (on `port`, with the
 * environment `env` makes from the TURN server), and stops both however it ends.
 */
async function withRelay(
  port: number,
  env: (turn: Coturn) => Record<string, string>,
  body: (server: OwnServer, turn: Coturn) => Promise<void>,
): Promise<void> {
  const turn = new Coturn("end-to-end turn secret");
  let server: OwnServer | null = null;
  try {
    await turn.start();
    server = new OwnServer(port, env(turn));
    await server.start();
    await body(server, turn);
  } finally {
    await server?.stop();
    await turn.stop();
  }
}

test("relayed only: two tabs decode each other through coturn, on relay candidates both ways", async ({ browser }) => {
  const env = (turn: Coturn) => ({
    PORTALS_TURN_URLS: turn.url,
    PORTALS_TURN_SECRET: turn.secret,
    PORTALS_ICE_TRANSPORT_POLICY: "relay",
  });
  await withRelay(3021, env, async (server) => {
    const context = await browser.newContext();
    await installHooks(context);
    const { a, b } = await twoDecodingTabs(context, "turn", { base: server.base });
    for (const page of [a, b]) {
      const pairs = await selectedPairs(page);
      expect(pairs.map(({ local, remote }) => [local, remote])).toEqual([["relay", "relay"]]);
    }
    await context.close();
  });
});

test("credentials that expire: refreshed before they do, and an ICE restart after finds the relay again", async ({ browser }) => {
  // Fresh ones at 15 s, and the first expire at 20 s.
  const env = (turn: Coturn) => ({
    PORTALS_TURN_URLS: turn.url,
    PORTALS_TURN_SECRET: turn.secret,
    PORTALS_TURN_TTL: "20s",
  });
  await withRelay(3022, env, async (server) => {
    const context = await browser.newContext();
    await installHooks(context);
    // The page forces relay itself here (`&relay`, with `&debug`): the server does not.
    const { a, b, idA, idB } = await twoDecodingTabs(context, "turn-ttl", { base: server.base, query: "&debug&relay" });
    const before = await selectedPairs(a);
    expect(before.map(({ local }) => local)).toEqual(["relay"]);

    // Fresh credentials arrive, for this member, good until later than the first.
    await expect.poll(async () => (await turnUsernames(a)).length, { timeout: 25_000 }).toBeGreaterThan(1);
    const [first, fresh] = await turnUsernames(a);
    const expiry = (username: string) => Number(username.split(":")[0]);
    expect(first).toMatch(new RegExp(`^\\d+:${idA}$`));
    expect(fresh).toMatch(new RegExp(`^\\d+:${idA}$`));
    expect(expiry(fresh)).toBeGreaterThan(expiry(first));
    // The first ones have expired (their expiry counts seconds: a second more for rounding).
    await a.waitForTimeout(Math.max(0, (expiry(first) + 1) * 1000 - Date.now()));

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
    await context.close();
  });
});

test("credentials signed with the wrong secret: no connection, and the tile says the relay refused them", async ({ browser }) => {
  const env = (turn: Coturn) => ({
    PORTALS_TURN_URLS: turn.url,
    PORTALS_TURN_SECRET: "not the relay's secret",
    PORTALS_ICE_TRANSPORT_POLICY: "relay",
  });
  await withRelay(3023, env, async (server) => {
    const context = await browser.newContext();
    await installHooks(context);
    const room = freshRoom("turn-wrong");
    const a = await openWall(context, room, { base: server.base });
    const b = await openWall(context, room, { base: server.base });
    const [idA, idB] = [await memberId(a), await memberId(b)];
    for (const [page, other] of [
      [a, idB],
      [b, idA],
    ] as const) {
      const tile = page.locator(`.tile[data-member="${other}"]`);
      await expect(tile).toHaveAttribute("data-relay-problem", "refused");
      await expect(tile.locator(".placeholder")).toHaveText("No relay: the TURN server refused the credentials");
    }
    // And it stays so: nothing connects, nothing is decoded.
    for (const page of [a, b]) expect(await decodedMembers(page, 3_000)).toEqual([]);
    for (const page of [a, b]) expect(await openConnections(page)).not.toContain("connected");
    await context.close();
  });
});

/**
 * What the test lets through the firewall of `firewalled-chromium`: each Unix socket it
 * serves passes connections on to a TCP port here.
 */
async function openings(ports: number[]): Promise<{ forward: string; close: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), "portals-firewall-"));
  const servers = await Promise.all(
    ports.map(async (port) => {
      const path = join(dir, `${port}.sock`);
      const server = net.createServer((inside) => {
        const outside = net.connect(port, "127.0.0.1");
        inside.pipe(outside).pipe(inside);
        inside.on("error", () => outside.destroy());
        outside.on("error", () => inside.destroy());
      });
      await new Promise<void>((resolve) => server.listen(path, resolve));
      return { server, opening: `${port}:${path}` };
    }),
  );
  return {
    forward: servers.map(({ opening }) => opening).join(" "),
    close: () => {
      for (const { server } of servers) server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

test("a tab behind a firewall that lets through only the TURN server (over TCP) and portals: its video gets out, and the others' gets in", async ({ browser }) => {
  const namespace = spawnSync(join(__dirname, "..", "..", "scripts", "loopback-netns"), ["--check"], { encoding: "utf8" });
  test.skip(namespace.status !== 0, `no network namespace can be made here for the firewall: ${namespace.stderr}`);
  const env = (turn: Coturn) => ({
    // UDP for whoever can, TCP for the tab behind the firewall.
    PORTALS_TURN_URLS: `${turn.url},turn:127.0.0.1:${turn.port}?transport=tcp`,
    PORTALS_TURN_SECRET: turn.secret,
  });
  await withRelay(3024, env, async (server, turn) => {
    const firewall = await openings([turn.port, 3024]);
    const firewalled = await chromium.launch({
      executablePath: join(__dirname, "firewalled-chromium"),
      args: chromiumArgs,
      env: { ...process.env, FORWARD: firewall.forward },
    });
    try {
      const context = await browser.newContext();
      await installHooks(context);
      const insideContext = await firewalled.newContext();
      await installHooks(insideContext);
      const room = freshRoom("firewall");
      const outside = await openWall(context, room, { base: server.base });
      const inside = await openWall(insideContext, room, { base: server.base });
      const [idOutside, idInside] = [await memberId(outside), await memberId(inside)];
      await expectDecoding(outside, [idInside]);
      await expectDecoding(inside, [idOutside]);
      // Nothing forces relay here: ICE found that only the relay gets through.
      expect((await selectedPairs(inside)).map(({ local }) => local)).toEqual(["relay"]);
      expect((await selectedPairs(outside)).map(({ remote }) => remote)).toEqual(["relay"]);
      await context.close();
    } finally {
      await firewalled.close();
      firewall.close();
    }
  });
});
