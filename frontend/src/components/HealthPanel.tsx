import { useQuery } from "@tanstack/react-query";
import { apiOrigin } from "../config";
import type { ServiceHealth } from "../realtime";
import { useShop } from "../shop";

export const HEALTH_KEY = ["health"] as const;

/** null: this API has no health endpoint (yet); every service is then "unknown". */
async function fetchHealth(apiUrl: string): Promise<ServiceHealth[] | null> {
  const reply = await fetch(`${apiOrigin(apiUrl)}/api/v1/health`);
  if (reply.status === 404) return null;
  if (!reply.ok) throw new Error(`health answered ${reply.status}`);
  const body = (await reply.json()) as { data?: ServiceHealth[] };
  return body.data ?? null;
}

const SERVICES = ["auth", "inventory", "orders", "bridge"];

function lastSeenText(lastSeen: number): string {
  return lastSeen > 0 ? new Date(lastSeen).toLocaleTimeString() : "never";
}

export function HealthPanel() {
  const { config, socketStatus } = useShop();
  const health = useQuery({
    queryKey: HEALTH_KEY,
    queryFn: () => fetchHealth(config.apiUrl),
    // Health pushes arrive every few seconds while the socket is up.
    refetchInterval: socketStatus === "live" ? 30_000 : 5_000,
  });
  const known = new Map((health.data ?? []).map((s) => [s.service, s]));
  const names = [...new Set([...SERVICES, ...known.keys()])];
  return (
    <section className="panel" aria-labelledby="health-heading">
      <h2 id="health-heading">System health</h2>
      {health.data === null ? <p>Health is unknown: this API does not report it.</p> : null}
      {health.isError ? <p role="alert">Health could not be read.</p> : null}
      <ul className="health">
        {names.map((name) => {
          const service = known.get(name);
          const state = service === undefined ? "unknown" : service.isUp ? "up" : "down";
          return (
            <li key={name} className={`health__item health--${state}`} aria-label={`${name}: ${state}`}>
              <strong>{name}</strong>
              <span>{state === "unknown" ? "Unknown" : state === "up" ? "Up" : "Down"}</span>
              <small>Last seen {service ? lastSeenText(service.lastSeen) : "unknown"}</small>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
