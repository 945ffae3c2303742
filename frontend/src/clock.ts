/**
 * The server's clock as seen from the browser. Sale windows are the server's: a browser
 * whose clock is an hour off must still count down to the real start.
 */
export class ServerClock {
  private offsetMs = 0;
  private bestRoundTripMs = Number.POSITIVE_INFINITY;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly localNow: () => number = () => Date.now()) {}

  /**
   * One sample: the server said `serverTime` in a reply to a request sent at `sentAt` and
   * received at `receivedAt` (both local). The reply is taken to be stamped half-way; the
   * sample with the shortest round trip since the last resync is the most exact.
   */
  observe(serverTime: number, sentAt: number, receivedAt: number): void {
    const roundTrip = Math.max(0, receivedAt - sentAt);
    if (roundTrip > this.bestRoundTripMs) return;
    this.bestRoundTripMs = roundTrip;
    const offset = serverTime - (sentAt + roundTrip / 2);
    if (offset === this.offsetMs) return;
    this.offsetMs = offset;
    this.listeners.forEach((listener) => listener());
  }

  /** Forget how good the last sample was, so the next one counts (on tab focus). */
  resync(): void {
    this.bestRoundTripMs = Number.POSITIVE_INFINITY;
  }

  now(): number {
    return this.localNow() + this.offsetMs;
  }

  get offset(): number {
    return this.offsetMs;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export const serverClock = new ServerClock();
