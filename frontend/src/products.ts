import { type QueryClient, useQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import type { Api } from "./api/client";
import type { components } from "./api/schema";
import { serverClock } from "./clock";
import type { LiveMessage } from "./realtime";
import { useShop } from "./shop";

export type Product = components["schemas"]["Product"];

export const PRODUCTS_KEY = ["products"] as const;
const PAGE_LIMIT = 50;
const MAX_PAGES = 20;

/** Every product (page by page), timing the server's clock on each reply. */
export async function fetchProducts(api: Api): Promise<Product[]> {
  const products: Product[] = [];
  for (let page = 1; page <= MAX_PAGES; page += 1) {
    const sentAt = Date.now();
    const { data, error } = await api.GET("/api/v1/products", {
      params: { query: { page, limit: PAGE_LIMIT } },
    });
    const receivedAt = Date.now();
    if (error || !data?.data) throw new Error("The products could not be loaded");
    serverClock.observe(data.data.serverTime, sentAt, receivedAt);
    products.push(...data.data.items);
    if (products.length >= data.data.total || data.data.items.length < PAGE_LIMIT) break;
  }
  return products;
}

/** Polls every few seconds while the socket is down; while it is up pushes keep it fresh,
 * and a slower poll covers a push that never comes (the bridge down, say). */
export function useProducts() {
  const { api, socketStatus } = useShop();
  return useQuery({
    queryKey: PRODUCTS_KEY,
    queryFn: () => fetchProducts(api),
    refetchInterval: socketStatus === "live" ? 10_000 : 3_000,
  });
}

/** Applies a stock push to the grid; a product the grid does not know yet means a reload. */
export function applyStockPush(client: QueryClient, message: Extract<LiveMessage, { type: "stock" }>): void {
  const products = client.getQueryData<Product[]>(PRODUCTS_KEY);
  if (!products?.some((p) => p.product_id === message.productId)) {
    void client.invalidateQueries({ queryKey: PRODUCTS_KEY });
    return;
  }
  client.setQueryData<Product[]>(
    PRODUCTS_KEY,
    products.map((p) => (p.product_id === message.productId ? { ...p, stock: message.stock } : p)),
  );
}

/** The server's time now, ticking; re-rendering whoever shows a countdown. */
export function useServerNow(intervalMs = 250): number {
  const [now, setNow] = useState(() => serverClock.now());
  useEffect(() => {
    const tick = () => setNow(serverClock.now());
    const timer = setInterval(tick, intervalMs);
    const unsubscribe = serverClock.subscribe(tick);
    return () => {
      clearInterval(timer);
      unsubscribe();
    };
  }, [intervalMs]);
  return now;
}

const money = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });

export function formatPrice(price: number): string {
  return money.format(price);
}
