/**
 * One purchase attempt: one Idempotency-Key, kept across every retry of that attempt, so a
 * lost reply, a 503 or a second click can never buy twice (the API answers a replay with the
 * first outcome).
 */

export interface OrderReply {
  status: number;
  /** The Retry-After header, if any. */
  retryAfter: string | null;
  /** The envelope's `data` and `message`. */
  data: { orderId?: string | null; status?: string; reason?: string | null } | null;
  message: string;
}

/** Sends POST /orders with this key; rejects on a network error (no reply at all). */
export type SendOrder = (idempotencyKey: string) => Promise<OrderReply>;

export type RejectionReason = "OUT_OF_STOCK" | "LIMIT_REACHED" | "SALE_NOT_STARTED" | "SALE_ENDED";

export type PurchaseOutcome =
  | { kind: "confirmed"; orderId: string }
  | { kind: "rejected"; reason: RejectionReason | "OTHER"; message: string }
  | { kind: "throttled"; retryAfterSeconds: number }
  | { kind: "pending"; orderId: string | null; message: string }
  | { kind: "signedOut" }
  | { kind: "invalid"; message: string }
  | { kind: "offline" };

export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts: number;
  /** Wait before a retry after a network error, doubled each time. */
  backoffMs: number;
  /** Never wait longer than this for a Retry-After. */
  maxWaitMs: number;
  sleep: (ms: number) => Promise<void>;
  /** Told before each wait, so the UI can say "retrying in N s". */
  onRetry?: (waitMs: number, why: "network" | "busy" | "inProgress") => void;
}

export const defaultRetryPolicy: RetryPolicy = {
  attempts: 5,
  backoffMs: 500,
  maxWaitMs: 10_000,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

const REASONS: readonly string[] = ["OUT_OF_STOCK", "LIMIT_REACHED", "SALE_NOT_STARTED", "SALE_ENDED"];

/** Seconds from a Retry-After header (delta-seconds or an HTTP date), `fallback` if unreadable. */
export function retryAfterSeconds(header: string | null, fallback: number, nowMs = Date.now()): number {
  if (header === null) return fallback;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds);
  const at = Date.parse(header);
  return Number.isNaN(at) ? fallback : Math.max(0, Math.ceil((at - nowMs) / 1000));
}

export function newIdempotencyKey(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  // randomUUID needs a secure context; a plain-http LAN host still gets a random key.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A reply that ends the attempt, or null when the same key should be sent again. */
function outcomeOf(reply: OrderReply): PurchaseOutcome | null {
  const data = reply.data ?? {};
  switch (reply.status) {
    case 200:
    case 201:
      return { kind: "confirmed", orderId: data.orderId ?? "" };
    case 401:
      return { kind: "signedOut" };
    case 409:
      if (data.status === "PENDING") return null; // the same key is still being worked on
      return {
        kind: "rejected",
        reason: REASONS.includes(data.reason ?? "") ? (data.reason as RejectionReason) : "OTHER",
        message: reply.message,
      };
    case 429:
      return { kind: "throttled", retryAfterSeconds: retryAfterSeconds(reply.retryAfter, 1) };
    case 503:
      return null;
    default:
      return { kind: "invalid", message: reply.message };
  }
}

export async function purchase(
  send: SendOrder,
  idempotencyKey: string,
  policy: RetryPolicy = defaultRetryPolicy,
): Promise<PurchaseOutcome> {
  let last: OrderReply | null = null;
  for (let attempt = 1; ; attempt += 1) {
    let waitMs: number;
    let why: "network" | "busy" | "inProgress";
    try {
      last = await send(idempotencyKey);
      const outcome = outcomeOf(last);
      if (outcome !== null) return outcome;
      why = last.status === 503 ? "busy" : "inProgress";
      waitMs = retryAfterSeconds(last.retryAfter, 1) * 1000;
    } catch {
      last = null;
      why = "network";
      waitMs = policy.backoffMs * 2 ** (attempt - 1);
    }
    if (attempt >= policy.attempts) break;
    waitMs = Math.min(waitMs, policy.maxWaitMs);
    policy.onRetry?.(waitMs, why);
    await policy.sleep(waitMs);
  }
  if (last === null) return { kind: "offline" };
  return { kind: "pending", orderId: last.data?.orderId ?? null, message: last.message };
}
