import { useQueryClient } from "@tanstack/react-query";
import { useRef, useState, useSyncExternalStore } from "react";
import { formatPrice, type Product } from "../products";
import {
  defaultRetryPolicy,
  newIdempotencyKey,
  purchase,
  type OrderReply,
  type PurchaseOutcome,
} from "../purchase";
import { hrefOf } from "../route";
import { describeSale, saleState } from "../sale";
import { session } from "../session";
import { useShop } from "../shop";

type BuyState =
  | { kind: "idle" }
  | { kind: "buying"; note: string }
  | { kind: "done"; outcome: PurchaseOutcome; quantity: number };

interface Props {
  product: Product;
  now: number;
  /** The most stock seen for this product: the bar's full length. */
  peakStock: number;
}

export function ProductCard({ product, now, peakStock }: Props) {
  const { api } = useShop();
  const queryClient = useQueryClient();
  const signedIn = useSyncExternalStore(session.subscribe, session.current) !== null;
  const [quantity, setQuantity] = useState(1);
  const [buy, setBuy] = useState<BuyState>({ kind: "idle" });
  // One key per purchase attempt, kept across its retries and re-clicks until it is settled.
  const attempt = useRef<{ key: string; quantity: number } | null>(null);
  const inFlight = useRef(false);

  const state = saleState(product, now);
  const limit = Math.max(1, Math.min(product.max_per_user ?? 10, product.stock || 1));
  const headingId = `product-${product.product_id}-name`;
  const buyable = state.kind === "live";

  async function onBuy() {
    if (inFlight.current) return;
    if (!signedIn) {
      setBuy({ kind: "done", outcome: { kind: "signedOut" }, quantity });
      return;
    }
    inFlight.current = true;
    if (attempt.current === null || attempt.current.quantity !== quantity) {
      attempt.current = { key: newIdempotencyKey(), quantity };
    }
    setBuy({ kind: "buying", note: "Placing your order…" });
    const send = async (key: string): Promise<OrderReply> => {
      const { data, error, response } = await api.POST("/api/v1/orders", {
        body: { productId: product.product_id, quantity },
        params: { header: { "Idempotency-Key": key } },
      });
      const envelope = data ?? (error as { message?: string; data?: OrderReply["data"] } | undefined);
      return {
        status: response.status,
        retryAfter: response.headers.get("Retry-After"),
        data: envelope?.data ?? null,
        message: envelope?.message ?? "",
      };
    };
    const outcome = await purchase(send, attempt.current.key, {
      ...defaultRetryPolicy,
      onRetry: (waitMs, why) => {
        const seconds = Math.ceil(waitMs / 1000);
        const note =
          why === "network" ? "Connection lost, retrying…" : `Busy, retrying in ${seconds} s…`;
        setBuy({ kind: "buying", note });
      },
    });
    inFlight.current = false;
    if (!["throttled", "pending", "offline"].includes(outcome.kind)) attempt.current = null;
    setBuy({ kind: "done", outcome, quantity });
    void queryClient.invalidateQueries({ queryKey: ["products"] });
    if (outcome.kind === "confirmed") void queryClient.invalidateQueries({ queryKey: ["orders"] });
  }

  const barPercent = peakStock > 0 ? Math.round((100 * product.stock) / peakStock) : 0;
  return (
    <article className={`card card--${state.kind}`} aria-labelledby={headingId}>
      <h3 id={headingId}>{product.name}</h3>
      <p className="price">{formatPrice(product.price)}</p>
      <p className="stock">
        {product.stock > 0 ? `${product.stock} left` : "None left"}
      </p>
      <div
        className="bar"
        role="meter"
        aria-label={`Stock of ${product.name}`}
        aria-valuemin={0}
        aria-valuemax={peakStock}
        aria-valuenow={product.stock}
      >
        <span style={{ width: `${barPercent}%` }} />
      </div>
      <p className={`sale-state sale-state--${state.kind}`}>{describeSale(state)}</p>
      <div className="buy">
        <label>
          Quantity
          <input
            type="number"
            min={1}
            max={limit}
            value={quantity}
            disabled={!buyable}
            onChange={(e) => setQuantity(Math.max(1, Math.min(limit, Number(e.target.value) || 1)))}
          />
        </label>
        <button
          type="button"
          aria-label={`Buy ${product.name}`}
          disabled={!buyable || buy.kind === "buying"}
          onClick={() => void onBuy()}
        >
          Buy
        </button>
      </div>
      {product.max_per_user ? <p className="hint">At most {product.max_per_user} per customer</p> : null}
      <BuyMessage buy={buy} productName={product.name} />
    </article>
  );
}

function BuyMessage({ buy, productName }: { buy: BuyState; productName: string }) {
  if (buy.kind === "idle") return <p className="outcome" role="status" />;
  if (buy.kind === "buying") return <p className="outcome" role="status">{buy.note}</p>;
  const { outcome, quantity } = buy;
  let text: React.ReactNode;
  let tone = "bad";
  switch (outcome.kind) {
    case "confirmed":
      tone = "good";
      text = (
        <>
          Confirmed: {quantity} of {productName} {quantity === 1 ? "is" : "are"} yours. <a href={hrefOf("orders")}>My orders</a>
        </>
      );
      break;
    case "rejected":
      text = {
        OUT_OF_STOCK: "Sold out: none left for you, sorry.",
        LIMIT_REACHED: "Limit reached: you already have the most you may buy.",
        SALE_NOT_STARTED: "Not started: the sale has not begun yet.",
        SALE_ENDED: "Ended: this sale is over.",
        OTHER: outcome.message || "Order rejected.",
      }[outcome.reason];
      break;
    case "throttled":
      text = `Too many requests: try again in ${outcome.retryAfterSeconds} s.`;
      break;
    case "pending":
      tone = "wait";
      text = "Still processing: your order is not confirmed yet. Buy again to check (you will not be charged twice).";
      break;
    case "signedOut":
      text = (
        <>
          Signed out: <a href={hrefOf("login")}>log in</a> to buy.
        </>
      );
      break;
    case "offline":
      text = "Network problem: no answer from the shop. Buy again to retry (you will not be charged twice).";
      break;
    case "invalid":
      text = outcome.message || "The order was refused.";
      break;
  }
  return (
    <p className={`outcome outcome--${tone}`} role="status">
      {text}
    </p>
  );
}
