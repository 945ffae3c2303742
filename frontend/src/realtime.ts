/**
 * The WebSocket API client (ARCHITECTURE "Realtime"): stock, health and the buyer's own order
 * updates as pushes, reconnecting with backoff. While it is down the app polls instead.
 */

export interface ServiceHealth {
  service: string;
  lastSeen: number;
  isUp: boolean;
}

export type LiveMessage =
  | { type: "stock"; productId: string; stock: number; soldOut: boolean; at?: number }
  | { type: "health"; services: ServiceHealth[] }
  | {
      type: "order";
      orderId: string;
      status: string;
      productId: string;
      quantity: number;
      reason?: string | null;
    };

function isServiceHealth(value: unknown): value is ServiceHealth {
  const v = value as ServiceHealth;
  return (
    typeof v === "object" &&
    v !== null &&
    typeof v.service === "string" &&
    typeof v.lastSeen === "number" &&
    typeof v.isUp === "boolean"
  );
}

/** The pushes the app acts on; anything else (subscribed, pong, error, unknown) is null. */
export function parseLiveMessage(text: string): LiveMessage | null {
  let message: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== "object" || parsed === null) return null;
    message = parsed as Record<string, unknown>;
  } catch {
    return null;
  }
  switch (message.type) {
    case "stock":
      if (typeof message.productId !== "string" || typeof message.stock !== "number") return null;
      return {
        type: "stock",
        productId: message.productId,
        stock: message.stock,
        soldOut: message.soldOut === true || message.stock <= 0,
        at: typeof message.at === "number" ? message.at : undefined,
      };
    case "health":
      if (!Array.isArray(message.services) || !message.services.every(isServiceHealth)) return null;
      return { type: "health", services: message.services };
    case "order":
      if (typeof message.orderId !== "string" || typeof message.status !== "string") return null;
      return {
        type: "order",
        orderId: message.orderId,
        status: message.status,
        productId: typeof message.productId === "string" ? message.productId : "",
        quantity: typeof message.quantity === "number" ? message.quantity : 0,
        reason: typeof message.reason === "string" ? message.reason : null,
      };
    default:
      return null;
  }
}

/** Wait before reconnect attempt `n` (0-based): 1 s doubling to 30 s, with jitter. */
export function reconnectDelayMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(30_000, 1000 * 2 ** attempt);
  return Math.round(base * (0.75 + random() * 0.5));
}

export type SocketStatus = "connecting" | "live" | "down";

export interface LiveSocketOptions {
  url: string;
  token: () => string | null;
  onMessage: (message: LiveMessage) => void;
  onStatus: (status: SocketStatus) => void;
  createSocket?: (url: string) => WebSocket;
}

/** WebSocket.CONNECTING (the global is missing where the unit tests run). */
const CONNECTING = 0;

/** API Gateway closes a WebSocket idle for 10 minutes; a ping well within keeps it. */
const KEEPALIVE_MS = 5 * 60_000;

export class LiveSocket {
  private socket: WebSocket | null = null;
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private keepaliveTimer: ReturnType<typeof setInterval> | null = null;
  private stopped = true;

  constructor(private readonly options: LiveSocketOptions) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  /** Reconnect now (the token changed: a signed-in connection also gets order pushes). */
  restart(): void {
    this.closeSocket();
    this.attempt = 0;
    if (!this.stopped) this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.closeSocket();
  }

  private connect(): void {
    if (!this.options.url) {
      this.options.onStatus("down");
      return;
    }
    const token = this.options.token();
    const url = token ? `${this.options.url}?token=${encodeURIComponent(token)}` : this.options.url;
    this.options.onStatus("connecting");
    const socket = (this.options.createSocket ?? ((u) => new WebSocket(u)))(url);
    this.socket = socket;
    let pushing = false;
    socket.onopen = () => {
      this.attempt = 0;
      socket.send(JSON.stringify({ action: "subscribe", products: [] }));
      this.keepaliveTimer = setInterval(() => socket.send(JSON.stringify({ action: "ping" })), KEEPALIVE_MS);
    };
    socket.onmessage = (event: MessageEvent) => {
      if (typeof event.data !== "string") return;
      const message = parseLiveMessage(event.data);
      if (!message) return;
      // Live once pushes flow (health comes on connect): an open socket whose pushes never
      // come (the bridge down) leaves the app polling.
      if (!pushing) {
        pushing = true;
        this.options.onStatus("live");
      }
      this.options.onMessage(message);
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.clearTimers();
      this.socket = null;
      this.options.onStatus("down");
      if (this.stopped) return;
      this.reconnectTimer = setTimeout(() => this.connect(), reconnectDelayMs(this.attempt));
      this.attempt += 1;
    };
  }

  private clearTimers(): void {
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    if (this.keepaliveTimer !== null) clearInterval(this.keepaliveTimer);
    this.reconnectTimer = null;
    this.keepaliveTimer = null;
  }

  private closeSocket(): void {
    this.clearTimers();
    const socket = this.socket;
    this.socket = null;
    if (!socket) return;
    socket.onclose = null;
    socket.onmessage = null;
    // Closing a socket still connecting makes the browser log an error: close it once open.
    if (socket.readyState === CONNECTING) socket.onopen = () => socket.close();
    else socket.close();
  }
}
