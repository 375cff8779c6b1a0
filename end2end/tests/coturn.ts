import { ChildProcess, spawn } from "node:child_process";
import * as dgram from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A UDP port free on loopback now (the kernel's pick, released again). */
export async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** Whether a STUN server answers a Binding request on `port` within `ms`. */
export async function stunAnswers(port: number, ms = 500): Promise<boolean> {
  const socket = dgram.createSocket("udp4");
  // RFC 8489: Binding request (0x0001), no attributes, the magic cookie, a transaction id.
  const request = Buffer.alloc(20);
  request.writeUInt16BE(0x0001, 0);
  request.writeUInt32BE(0x2112a442, 4);
  for (let i = 8; i < 20; i++) request[i] = Math.floor(Math.random() * 256);
  try {
    return await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      socket.on("message", (message) => {
        // A Binding success response (0x0101) to our transaction.
        if (message.readUInt16BE(0) === 0x0101 && message.subarray(8, 20).equals(request.subarray(8, 20))) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      socket.on("error", () => resolve(false));
      socket.send(request, port, "127.0.0.1");
    });
  } finally {
    socket.close();
  }
}

/**
 * Debian's coturn (`turnserver`) on a free loopback port, with TURN REST credentials
 * (`use-auth-secret`): what the README tells operators to run beside portals, with loopback
 * peers allowed since every browser of the tests is on this machine. It prints no line when
 * ready, so start() asks it a STUN question until it answers.
 */
export class Coturn {
  private process: ChildProcess | null = null;
  private dir: string | null = null;
  port = 0;

  constructor(readonly secret: string) {}

  /** The `--turn-url` for portals. */
  get url(): string {
    return `turn:127.0.0.1:${this.port}?transport=udp`;
  }

  async start(): Promise<void> {
    this.port = await freeUdpPort();
    const dir = mkdtempSync(join(tmpdir(), "portals-coturn-"));
    this.dir = dir;
    const child = spawn(
      "turnserver",
      [
        "-n", // no configuration file: only these flags
        `--listening-port=${this.port}`,
        "--listening-ip=127.0.0.1",
        "--relay-ip=127.0.0.1",
        "--use-auth-secret",
        `--static-auth-secret=${this.secret}`,
        "--realm=portals.test",
        "--allow-loopback-peers",
        "--no-tls",
        "--no-dtls",
        "--no-cli",
        "--no-tcp-relay",
        `--pidfile=${join(dir, "turnserver.pid")}`,
        `--log-file=${join(dir, "turnserver.log")}`,
        "--simple-log",
      ],
      { stdio: "ignore" },
    );
    this.process = child;
    // Gone before it answered: not installed (`make setup` installs Debian's coturn), or it
    // could not listen.
    let failed: Error | null = null;
    child.once("error", (error) => (failed = error));
    child.once("exit", (code, signal) => (failed ??= new Error(`turnserver exited (${code ?? signal})`)));
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (failed) throw failed;
      if (await stunAnswers(this.port)) return;
    }
    throw new Error(`turnserver on ${this.port} did not answer STUN`);
  }

  async stop(): Promise<void> {
    const child = this.process;
    this.process = null;
    if (child && child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = null;
  }
}
