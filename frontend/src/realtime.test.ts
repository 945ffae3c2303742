import { describe, expect, it, vi } from "vitest";
import { LiveSocket, parseLiveMessage, reconnectDelayMs, type LiveMessage, type SocketStatus } from "./realtime";

describe("parseLiveMessage", () => {
  it("reads the documented pushes", () => {
    expect(parseLiveMessage('{"type":"stock","productId":"p-1","stock":0,"soldOut":true,"at":5}')).toEqual({
      type: "stock",
      productId: "p-1",
      stock: 0,
      soldOut: true,
      at: 5,
    });
    const health = '{"type":"health","services":[{"service":"auth","lastSeen":1,"isUp":true}]}';
    expect(parseLiveMessage(health)).toEqual({
      type: "health",
      services: [{ service: "auth", lastSeen: 1, isUp: true }],
    });
    const order = '{"type":"order","orderId":"o","status":"CONFIRMED","productId":"p","quantity":1,"reason":null}';
    expect(parseLiveMessage(order)).toMatchObject({ type: "order", orderId: "o", status: "CONFIRMED" });
  });

  it.each(['{"type":"pong"}', '{"type":"subscribed","products":[]}', "not json", "[1]", '{"type":"stock"}'])(
    "ignores %s",
    (text) => {
      expect(parseLiveMessage(text)).toBeNull();
    },
  );
});

describe("reconnectDelayMs", () => {
  it("doubles from about a second up to about thirty", () => {
    const middle = () => 0.5;
    expect([0, 1, 2, 5, 10].map((n) => reconnectDelayMs(n, middle))).toEqual([1000, 2000, 4000, 30000, 30000]);
  });
});

/** Just enough of a WebSocket for LiveSocket: the test opens, pushes and closes it. */
class FakeSocket {
  sent: string[] = [];
  closed = false;
  readyState = 0; // CONNECTING
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: (() => void) | null = null;
  constructor(readonly url: string) {}
  send(text: string) {
    this.sent.push(text);
  }
  close() {
    this.closed = true;
  }
}

describe("LiveSocket", () => {
  it("subscribes on open, passes pushes on, reports status and reconnects with the token", () => {
    vi.useFakeTimers();
    // GIVEN a signed-in shopper's socket
    const sockets: FakeSocket[] = [];
    const statuses: SocketStatus[] = [];
    const messages: LiveMessage[] = [];
    const live = new LiveSocket({
      url: "ws://shop/ws",
      token: () => "t k",
      onMessage: (m) => messages.push(m),
      onStatus: (s) => statuses.push(s),
      createSocket: (url) => {
        const socket = new FakeSocket(url);
        sockets.push(socket);
        return socket as unknown as WebSocket;
      },
    });
    live.start();
    // WHEN it opens, THEN it asks for every product, and is not live before a push comes
    sockets[0]!.readyState = 1;
    sockets[0]!.onopen?.();
    sockets[0]!.onmessage?.({ data: '{"type":"subscribed","products":[]}' });
    expect(sockets[0]!.url).toBe("ws://shop/ws?token=t%20k");
    expect(JSON.parse(sockets[0]!.sent[0]!)).toEqual({ action: "subscribe", products: [] });
    expect(statuses).toEqual(["connecting"]);
    // WHEN a stock push arrives, THEN it is live and the push reached the app
    sockets[0]!.onmessage?.({ data: '{"type":"stock","productId":"p","stock":3,"soldOut":false}' });
    expect(messages).toEqual([{ type: "stock", productId: "p", stock: 3, soldOut: false, at: undefined }]);
    // WHEN the connection drops, THEN it is down and a new socket comes after the backoff
    sockets[0]!.onclose?.();
    expect(statuses).toEqual(["connecting", "live", "down"]);
    vi.advanceTimersByTime(1_400);
    expect(sockets).toHaveLength(2);
    // WHEN it is stopped while still connecting, THEN it closes once open (closing a
    // connecting socket makes the browser log an error)
    live.stop();
    expect(sockets[1]!.closed).toBe(false);
    sockets[1]!.onopen?.();
    expect(sockets[1]!.closed).toBe(true);
    vi.useRealTimers();
  });
});
