import { describe, expect, it } from "vitest";
import { purchase, retryAfterSeconds, type OrderReply, type RetryPolicy } from "./purchase";

function reply(status: number, data: OrderReply["data"] = null, retryAfter: string | null = null): OrderReply {
  return { status, data, retryAfter, message: `status ${status}` };
}

/** A transport that answers from a script and records every key it was sent. */
function scripted(...answers: (OrderReply | "network error")[]) {
  const keys: string[] = [];
  const send = async (key: string) => {
    keys.push(key);
    const answer = answers.shift();
    if (answer === undefined || answer === "network error") throw new TypeError("Failed to fetch");
    return answer;
  };
  return { send, keys };
}

function policy(waits: number[]): RetryPolicy {
  return { attempts: 4, backoffMs: 100, maxWaitMs: 5_000, sleep: async (ms) => void waits.push(ms) };
}

describe("purchase", () => {
  it("retries a lost reply with the same key and gets the first outcome", async () => {
    // GIVEN the first reply is lost on the network
    const { send, keys } = scripted("network error", reply(201, { orderId: "o-1", status: "CONFIRMED" }));
    const waits: number[] = [];
    // WHEN the purchase runs
    const outcome = await purchase(send, "key-1", policy(waits));
    // THEN it is confirmed, and both tries carried the one key
    expect(outcome).toEqual({ kind: "confirmed", orderId: "o-1" });
    expect(keys).toEqual(["key-1", "key-1"]);
    expect(waits).toEqual([100]);
  });

  it("waits out a 503's Retry-After before trying the same key again", async () => {
    const { send, keys } = scripted(
      reply(503, { orderId: "o-2", status: "PENDING" }, "2"),
      reply(201, { orderId: "o-2", status: "CONFIRMED" }),
    );
    const waits: number[] = [];
    const outcome = await purchase(send, "key-2", policy(waits));
    expect(outcome).toEqual({ kind: "confirmed", orderId: "o-2" });
    expect(keys).toEqual(["key-2", "key-2"]);
    expect(waits).toEqual([2_000]);
  });

  it("asks again while the same key is still in progress (409 PENDING)", async () => {
    const { send } = scripted(
      reply(409, { orderId: "o-3", status: "PENDING" }),
      reply(201, { orderId: "o-3", status: "CONFIRMED" }),
    );
    expect(await purchase(send, "k", policy([]))).toEqual({ kind: "confirmed", orderId: "o-3" });
  });

  it.each([
    ["OUT_OF_STOCK", "OUT_OF_STOCK"],
    ["LIMIT_REACHED", "LIMIT_REACHED"],
    ["SALE_NOT_STARTED", "SALE_NOT_STARTED"],
    ["SALE_ENDED", "SALE_ENDED"],
    ["SOMETHING_NEW", "OTHER"],
  ])("a 409 FAILED with %s is a rejection, not retried", async (reason, shown) => {
    const { send, keys } = scripted(reply(409, { orderId: null, status: "FAILED", reason }));
    const outcome = await purchase(send, "k", policy([]));
    expect(outcome).toMatchObject({ kind: "rejected", reason: shown });
    expect(keys).toHaveLength(1);
  });

  it("a 429 stops with the seconds to wait; a 401 means signed out", async () => {
    expect(await purchase(scripted(reply(429, null, "7")).send, "k", policy([]))).toEqual({
      kind: "throttled",
      retryAfterSeconds: 7,
    });
    expect(await purchase(scripted(reply(401)).send, "k", policy([]))).toEqual({ kind: "signedOut" });
  });

  it("gives up after its tries: offline with no reply, pending after 503s", async () => {
    const offline = scripted("network error", "network error", "network error", "network error");
    expect(await purchase(offline.send, "k", policy([]))).toEqual({ kind: "offline" });
    expect(offline.keys).toEqual(["k", "k", "k", "k"]);
    const busy = scripted(...Array.from({ length: 4 }, () => reply(503, { orderId: "o-4", status: "PENDING" }, "1")));
    expect(await purchase(busy.send, "k", policy([]))).toMatchObject({ kind: "pending", orderId: "o-4" });
  });
});

describe("retryAfterSeconds", () => {
  it("reads delta-seconds and HTTP dates, and falls back when unreadable", () => {
    const now = Date.parse("2026-12-01T12:00:00Z");
    expect(retryAfterSeconds("3", 1, now)).toBe(3);
    expect(retryAfterSeconds("Tue, 01 Dec 2026 12:00:05 GMT", 1, now)).toBe(5);
    expect(retryAfterSeconds("soon", 1, now)).toBe(1);
    expect(retryAfterSeconds(null, 2, now)).toBe(2);
  });
});
