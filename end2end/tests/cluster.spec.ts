import { expect, test } from "@playwright/test";
import { ChildProcess, spawn } from "node:child_process";
import * as net from "node:net";
import { connectionsCreated, decodedMembers, expectDecoding, freshRoom, memberId, openWall, printConsoleOnFailure, tiles } from "./helpers";
import { OwnServer } from "./own-server";

test.afterEach(printConsoleOnFailure);

/** A TCP port free on loopback now (the kernel's pick, released again). */
async function freeTcpPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Whether Redis answers PING on `port`. */
async function redisAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(500, () => done(false));
    socket.on("error", () => done(false));
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (data) => done(data.toString().startsWith("+PONG")));
  });
}

/** Debian's redis-server on a free loopback port, saving nothing. */
async function startRedis(): Promise<{ url: string; process: ChildProcess }> {
  const port = await freeTcpPort();
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: "ignore",
  });
  const deadline = Date.now() + 10_000;
  while (!(await redisAnswers(port))) {
    if (Date.now() > deadline) throw new Error("redis-server did not come up");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { url: `redis://127.0.0.1:${port}/`, process: child };
}

/**
 * The smallest load balancer with failover: each connection goes to the first of `backends`
 * that accepts it. The tab's origin stays this port whichever process serves it.
 */
async function failoverBalancer(port: number, backends: number[]): Promise<net.Server> {
  const server = net.createServer((client) => {
    client.pause();
    const tryBackend = (index: number) => {
      if (index >= backends.length) return client.destroy();
      const backend = net.connect(backends[index], "127.0.0.1");
      backend.once("error", () => tryBackend(index + 1));
      backend.once("connect", () => {
        backend.removeAllListeners("error");
        backend.on("error", () => client.destroy());
        client.on("error", () => backend.destroy());
        client.pipe(backend).pipe(client);
        client.resume();
      });
    };
    tryBackend(0);
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return server;
}

async function metric(server: OwnServer, name: string): Promise<number> {
  const text = await (await fetch(`${server.base}/metrics`)).text();
  const line = text.split("\n").find((line) => line.startsWith(`${name} `));
  return line === undefined ? NaN : Number(line.split(" ")[1]);
}

test("two tabs on two processes of a cluster decode each other; one whose process is killed comes back on the other with its id and its video", async ({ browser }) => {
  const redis = await startRedis();
  const env = {
    PORTALS_REDIS_URL: redis.url,
    PORTALS_SECRET: "end-to-end cluster test",
    PORTALS_REDIS_HEARTBEAT: "250ms",
  };
  const first = new OwnServer(3031, env);
  const second = new OwnServer(3032, env);
  await first.start();
  await second.start();
  // The second tab reaches the second process while it lives, then the first.
  const balancer = await failoverBalancer(3033, [3032, 3031]);
  try {
    const context = await browser.newContext();
    const room = freshRoom("cluster");
    const a = await openWall(context, room, { base: first.base });
    const b = await openWall(context, room, { base: "http://127.0.0.1:3033" });
    const [idA, idB] = [await memberId(a), await memberId(b)];
    await expectDecoding(a, [idB]);
    await expectDecoding(b, [idA]);
    // The first process runs the room; the second only holds B's socket.
    expect(await metric(second, "portals_connections_forwarded")).toBe(1);
    expect(await metric(first, "portals_connections_remote")).toBe(1);
    const created = await Promise.all([a, b].map(connectionsCreated));

    await second.stop("SIGKILL");
    // B reconnects through the balancer to the first process, as the same member.
    await expect.poll(() => metric(first, "portals_connections"), { timeout: 30_000 }).toBe(2);
    await expect(b.locator("main.wall")).toHaveAttribute("data-status", "joined", { timeout: 30_000 });
    await expect(b.locator("main.wall")).toHaveAttribute("data-member", idB);
    expect(await metric(first, "portals_connections_remote")).toBe(0);
    // Peer to peer: the call went on, nothing was rebuilt, and nobody is shown twice.
    expect(await decodedMembers(a)).toEqual([idB]);
    expect(await decodedMembers(b)).toEqual([idA]);
    for (const [i, page] of [a, b].entries()) {
      expect((await tiles(page)).map((tile) => tile.member)).toEqual([[idB], [idA]][i]);
      expect(await connectionsCreated(page), "the call was kept, not rebuilt").toBe(created[i]);
    }
    await context.close();
  } finally {
    balancer.close();
    await first.stop();
    await second.stop();
    redis.process.kill();
  }
});
