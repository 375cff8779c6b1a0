import { ChildProcess, spawn } from "node:child_process";
import * as https from "node:https";
import * as path from "node:path";

const root = path.join(__dirname, "..", "..");

/**
 * A portals server of the tests' own, on its own port, for what the shared one cannot do:
 * be killed and restarted, or run with other limits. It runs the binary cargo-leptos built.
 */
export class OwnServer {
  private process: ChildProcess | null = null;
  readonly base: string;

  constructor(
    private readonly port: number,
    private readonly env: Record<string, string> = {},
    private readonly tls = false,
  ) {
    this.base = `${tls ? "https" : "http"}://127.0.0.1:${port}`;
  }

  /** Whether /healthz answers; over TLS, whatever certificate the server has made. */
  private async healthy(): Promise<boolean> {
    if (!this.tls) return (await fetch(`${this.base}/healthz`)).ok;
    return new Promise((resolve, reject) => {
      https
        .get(`${this.base}/healthz`, { rejectUnauthorized: false }, (response) => {
          response.resume();
          resolve(response.statusCode === 200);
        })
        .on("error", reject);
    });
  }

  async start(): Promise<void> {
    const binary = path.join(root, "target", "debug", "portals");
    this.process = spawn(binary, [], {
      cwd: root,
      env: {
        ...process.env,
        LEPTOS_SITE_ADDR: `127.0.0.1:${this.port}`,
        LEPTOS_SITE_ROOT: path.join(root, "target", "site"),
        PORTALS_LOG: "warn",
        ...this.env,
      },
      stdio: ["ignore", "inherit", "inherit"],
    });
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      try {
        if (await this.healthy()) return;
      } catch {
        // not up yet
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`own server on ${this.port} did not start`);
  }

  /** Stops it as a crash would (SIGKILL) or as an operator would (SIGTERM). */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill(signal);
    await exited;
    this.process = null;
  }
}
