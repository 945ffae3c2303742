import { describe, expect, it } from "vitest";
import { describeSale, formatCountdown, saleState } from "./sale";

const NOW = Date.parse("2026-12-01T12:00:00Z");

describe("saleState", () => {
  it("is upcoming with the time left before the window opens", () => {
    const state = saleState({ stock: 5, starts_at: "2026-12-01T12:02:13Z" }, NOW);
    expect(describeSale(state)).toBe("Starts in 02:13");
  });

  it("is live inside the window and with stock", () => {
    const state = saleState(
      { stock: 1, starts_at: "2026-12-01T11:00:00Z", ends_at: "2026-12-01T13:00:00Z" },
      NOW,
    );
    expect(state).toEqual({ kind: "live", endsInMs: 3_600_000 });
  });

  it("is sold out when live with no stock, ended after the window whatever the stock", () => {
    expect(describeSale(saleState({ stock: 0 }, NOW))).toBe("Sold out");
    expect(describeSale(saleState({ stock: 9, ends_at: "2026-12-01T12:00:00Z" }, NOW))).toBe("Ended");
  });
});

describe("formatCountdown", () => {
  it.each([
    [0, "00:00"],
    [1, "00:01"],
    [999, "00:01"],
    [61_000, "01:01"],
    [3_723_000, "01:02:03"],
    [90_000_000, "1d 01:00:00"],
  ])("%i ms reads %s", (ms, text) => {
    expect(formatCountdown(ms)).toBe(text);
  });
});
