/** Where the API and the WebSocket API live, read at run time so one build serves every stage. */
export interface ShopConfig {
  /** The HTTP API's base, ending in /api/v1 (the stack's ApiUrl output, or "/api/v1"). */
  apiUrl: string;
  /** The WebSocket API (ws:// or wss://); "" when the stage has none. */
  wsUrl: string;
}

/** The origin the generated client's paths (which start with /api/v1) are relative to. */
export function apiOrigin(apiUrl: string): string {
  return apiUrl.replace(/\/+$/, "").replace(/\/api\/v1$/, "");
}

export function parseConfig(raw: unknown, location: { protocol: string; host: string }): ShopConfig {
  const fields = typeof raw === "object" && raw !== null ? (raw as Record<string, unknown>) : {};
  const wsScheme = location.protocol === "https:" ? "wss:" : "ws:";
  return {
    apiUrl: typeof fields.apiUrl === "string" ? fields.apiUrl : "/api/v1",
    wsUrl: typeof fields.wsUrl === "string" ? fields.wsUrl : `${wsScheme}//${location.host}/ws`,
  };
}

export async function loadConfig(): Promise<ShopConfig> {
  const reply = await fetch("/config.json", { cache: "no-store" });
  if (!reply.ok) throw new Error(`/config.json answered ${reply.status}`);
  return parseConfig(await reply.json(), window.location);
}
