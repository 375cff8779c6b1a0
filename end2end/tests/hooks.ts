import { BrowserContext, Page } from "@playwright/test";

/**
 * What the tests make the browser's own APIs do, installed before any page script runs. The app
 * is not changed for the tests: these wrap `getUserMedia`, `RTCPeerConnection` and `WebSocket`
 * the way a slow permission prompt, a failing device or a cut network would look to it, and
 * record what it did with them.
 */
export interface HookOptions {
  /** How long the camera (video) request takes to resolve, like a permission prompt. */
  videoDelayMs?: number;
  /** How long the microphone (audio) request takes to resolve. */
  audioDelayMs?: number;
  /** The DOMException name the microphone request fails with, e.g. "NotReadableError". */
  audioError?: string;
  /** The DOMException name the camera request fails with once `videoDelayMs` is over, e.g.
   * "NotAllowedError": a permission prompt answered No. */
  videoError?: string;
  /** A smaller camera than the app asks for: many tabs on two cores cannot each encode HD for
   * every other, and a test of the mesh is not a test of the encoder. */
  videoSize?: { width: number; height: number; frameRate: number };
  /** How long the page's first signalling socket holds back what it receives, in order: a
   * newcomer on a busy machine that handles its first `info` seconds after the room heard of
   * it. */
  holdFirstMessagesMs?: number;
}

export async function installHooks(context: BrowserContext, options: HookOptions = {}): Promise<void> {
  await context.addInitScript((options: HookOptions) => {
    const hooks = {
      /** Every getUserMedia call: what it asked for and the stream it returned, if any. */
      requests: [] as { audio: boolean; video: boolean; stream: MediaStream | null }[],
      peers: [] as RTCPeerConnection[],
      sockets: [] as WebSocket[],
      /** Every message the page received on a signalling socket, parsed. */
      received: [] as { type: string; from?: string; [key: string]: unknown }[],
      /** Every message the page sent on a signalling socket, parsed. */
      sent: [] as { type: string; target?: string; [key: string]: unknown }[],
      cutUntil: 0,
    };
    (window as any).__hooks = hooks;

    const media = navigator.mediaDevices;
    if (media) {
      const native = media.getUserMedia.bind(media);
      const wait = (ms?: number) => new Promise((resolve) => setTimeout(resolve, ms ?? 0));
      Object.defineProperty(media, "getUserMedia", {
        value: async (constraints: MediaStreamConstraints) => {
          const request = { audio: !!constraints.audio, video: !!constraints.video, stream: null as MediaStream | null };
          hooks.requests.push(request);
          if (request.audio && !request.video) {
            await wait(options.audioDelayMs);
            if (options.audioError) throw new DOMException("refused by the test", options.audioError);
          } else {
            await wait(options.videoDelayMs);
            if (options.videoError) throw new DOMException("refused by the test", options.videoError);
            if (options.videoSize) {
              const { width, height, frameRate } = options.videoSize;
              constraints = { ...constraints, video: { width: { exact: width }, height: { exact: height }, frameRate } };
            }
          }
          request.stream = await native(constraints);
          return request.stream;
        },
      });
    }

    const NativePeer = window.RTCPeerConnection;
    window.RTCPeerConnection = class extends NativePeer {
      constructor(configuration?: RTCConfiguration) {
        super(configuration);
        hooks.peers.push(this);
      }
    } as typeof RTCPeerConnection;

    const NativeSocket = window.WebSocket;
    window.WebSocket = class extends NativeSocket {
      /** Set while this socket holds back messages: who gets them, in order, once it ends. */
      held: { deliver: (event: Event) => void; event: Event }[] | null = null;

      constructor(url: string | URL, protocols?: string | string[]) {
        // While cut, every attempt fails the way an unreachable server does.
        super(Date.now() < hooks.cutUntil ? "ws://127.0.0.1:9/portal" : url, protocols);
        if (options.holdFirstMessagesMs && hooks.sockets.length === 0) {
          this.held = [];
          setTimeout(() => {
            const held = this.held ?? [];
            this.held = null;
            for (const { deliver, event } of held) deliver(event);
          }, options.holdFirstMessagesMs);
        }
        hooks.sockets.push(this);
        this.addEventListener("message", (event: MessageEvent) => {
          try {
            hooks.received.push(JSON.parse(event.data));
          } catch {
            // not ours to judge
          }
        });
      }

      /** Each message listener's stand-in, so that removing the listener removes it. */
      wrapped = new Map<unknown, EventListener>();

      addEventListener(type: any, listener: any, options?: any): void {
        if (type !== "message" || !listener) return super.addEventListener(type, listener, options);
        const deliver = (event: Event) =>
          typeof listener === "function" ? listener.call(this, event) : listener.handleEvent(event);
        const standIn = (event: Event) => (this.held ? this.held.push({ deliver, event }) : deliver(event));
        this.wrapped.set(listener, standIn);
        super.addEventListener(type, standIn, options);
      }

      removeEventListener(type: any, listener: any, options?: any): void {
        const standIn = type === "message" ? this.wrapped.get(listener) : undefined;
        if (standIn) this.wrapped.delete(listener);
        super.removeEventListener(type, standIn ?? listener, options);
      }

      send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
        if (typeof data === "string") {
          try {
            hooks.sent.push(JSON.parse(data));
          } catch {
            // not ours to judge
          }
        }
        super.send(data);
      }
    } as typeof WebSocket;
  }, options);
}

/** Cuts the page's signalling for `ms`: open sockets drop as a lost network would, and new
 * ones fail until then. Peer connections are not touched. */
export async function cutSignalling(page: Page, ms: number): Promise<void> {
  await page.evaluate((ms) => {
    const hooks = (window as any).__hooks;
    hooks.cutUntil = Date.now() + ms;
    for (const socket of hooks.sockets as WebSocket[]) {
      if (socket.readyState <= WebSocket.OPEN) socket.close(4001, "cut by the test");
    }
  }, ms);
}

/** Cuts the page's signalling until `restoreSignalling`: a network that stays away until the
 * test has seen what it waits for, not for a time it must guess. */
export async function cutSignallingUntilRestored(page: Page): Promise<void> {
  await cutSignalling(page, 24 * 3600 * 1000);
}

/** Ends a cut: the page's next reconnect attempt reaches the server again. */
export async function restoreSignalling(page: Page): Promise<void> {
  await page.evaluate(() => {
    (window as any).__hooks.cutUntil = 0;
  });
}

/** How many offers the page has sent to `target` on its signalling sockets so far. */
export async function offersSentTo(page: Page, target: string): Promise<number> {
  return page.evaluate(
    (target) =>
      ((window as any).__hooks.sent as { type: string; target?: string; description?: { type: string } }[]).filter(
        (message) => message.type === "description" && message.target === target && message.description?.type === "offer",
      ).length,
    target,
  );
}

/** Per peer connection of the page: how many senders send a live track of `kind`. */
export async function sendersOf(page: Page, kind: "audio" | "video"): Promise<number[]> {
  return page.evaluate((kind) => {
    const peers = (window as any).__hooks.peers as RTCPeerConnection[];
    return peers
      .filter((peer) => peer.connectionState !== "closed")
      .map((peer) =>
        peer.getSenders().filter((sender) => sender.track?.kind === kind && sender.track.readyState === "live").length,
      );
  }, kind);
}

/** The getUserMedia calls of the page so far, and the state of the tracks each returned. */
export async function mediaRequests(page: Page): Promise<{ audio: boolean; video: boolean; tracks: string[] }[]> {
  return page.evaluate(() =>
    ((window as any).__hooks.requests as { audio: boolean; video: boolean; stream: MediaStream | null }[]).map(
      (request) => ({
        audio: request.audio,
        video: request.video,
        tracks: request.stream?.getTracks().map((track) => track.readyState) ?? [],
      }),
    ),
  );
}

/** The page's peer connections that are not closed, by their connection state. */
export async function openConnections(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    ((window as any).__hooks.peers as RTCPeerConnection[])
      .filter((peer) => peer.connectionState !== "closed")
      .map((peer) => peer.connectionState),
  );
}

/** Video frames the page has decoded so far, over its open peer connections (a closed one
 * has no stats to read: `data-connections-created` tells whether any was ever made). */
export async function framesDecoded(page: Page): Promise<number> {
  return videoStat(page, "inbound-rtp", "framesDecoded");
}

/** Video frames the page has sent so far, over its open peer connections. */
export async function framesSent(page: Page): Promise<number> {
  return videoStat(page, "outbound-rtp", "framesSent");
}

/** The sum of one counter of the page's video RTP streams of one `type`, over its open
 * peer connections. */
async function videoStat(page: Page, type: "inbound-rtp" | "outbound-rtp", counter: string): Promise<number> {
  return page.evaluate(
    async ({ type, counter }) => {
      let total = 0;
      for (const peer of (window as any).__hooks.peers as RTCPeerConnection[]) {
        if (peer.connectionState === "closed") continue;
        (await peer.getStats()).forEach((report: any) => {
          if (report.type === type && report.kind === "video") total += report[counter] ?? 0;
        });
      }
      return total;
    },
    { type, counter },
  );
}

/** The negotiated direction of each video transceiver of the page's open peer connections. */
export async function videoDirections(page: Page): Promise<(string | null)[]> {
  return page.evaluate(() =>
    ((window as any).__hooks.peers as RTCPeerConnection[])
      .filter((peer) => peer.connectionState !== "closed")
      .flatMap((peer) => peer.getTransceivers())
      .filter((transceiver) => transceiver.receiver.track.kind === "video")
      .map((transceiver) => transceiver.currentDirection),
  );
}
