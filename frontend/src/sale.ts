/** A product's sale state at a given server time, and how the grid words it. */
export interface SaleWindow {
  stock: number;
  starts_at?: string | null;
  ends_at?: string | null;
}

export type SaleState =
  | { kind: "upcoming"; startsInMs: number }
  | { kind: "live"; endsInMs: number | null }
  | { kind: "ended" }
  | { kind: "soldOut" };

export function saleState(product: SaleWindow, nowMs: number): SaleState {
  const starts = product.starts_at ? Date.parse(product.starts_at) : null;
  const ends = product.ends_at ? Date.parse(product.ends_at) : null;
  if (ends !== null && nowMs >= ends) return { kind: "ended" };
  if (starts !== null && nowMs < starts) return { kind: "upcoming", startsInMs: starts - nowMs };
  if (product.stock <= 0) return { kind: "soldOut" };
  return { kind: "live", endsInMs: ends === null ? null : ends - nowMs };
}

/** 02:13, 1:02:13 or 3d 04:00:00; rounds up, so "00:00" is shown only when it is time. */
export function formatCountdown(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const days = Math.floor(total / 86_400);
  const hours = Math.floor((total % 86_400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const two = (n: number) => String(n).padStart(2, "0");
  const clock = hours > 0 || days > 0 ? `${two(hours)}:${two(minutes)}:${two(seconds)}` : `${two(minutes)}:${two(seconds)}`;
  return days > 0 ? `${days}d ${clock}` : clock;
}

export function describeSale(state: SaleState): string {
  switch (state.kind) {
    case "upcoming":
      return `Starts in ${formatCountdown(state.startsInMs)}`;
    case "live":
      return "Live";
    case "ended":
      return "Ended";
    case "soldOut":
      return "Sold out";
  }
}
