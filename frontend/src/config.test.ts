import { describe, expect, it } from "vitest";
import { apiOrigin, parseConfig } from "./config";

describe("config", () => {
  it("takes the API and WebSocket URLs from /config.json", () => {
    const config = parseConfig(
      { apiUrl: "https://api.example/api/v1", wsUrl: "wss://ws.example/prod" },
      { protocol: "https:", host: "shop.example" },
    );
    expect(config).toEqual({ apiUrl: "https://api.example/api/v1", wsUrl: "wss://ws.example/prod" });
  });

  it("falls back to the page's own origin", () => {
    expect(parseConfig(null, { protocol: "https:", host: "shop.example" })).toEqual({
      apiUrl: "/api/v1",
      wsUrl: "wss://shop.example/ws",
    });
  });

  it.each([
    ["https://x.execute-api.us-east-1.amazonaws.com/api/v1", "https://x.execute-api.us-east-1.amazonaws.com"],
    ["http://127.0.0.1:3000/api/v1/", "http://127.0.0.1:3000"],
    ["/api/v1", ""],
  ])("the client's paths are relative to the origin of %s", (url, origin) => {
    expect(apiOrigin(url)).toBe(origin);
  });
});
