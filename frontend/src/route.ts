import { useSyncExternalStore } from "react";

/** Hash routes (#/orders): the static host needs no rewrite rules, and back/forward work. */
export type Route = "sale" | "orders" | "admin" | "login" | "register";

const ROUTES: Record<string, Route> = {
  "": "sale",
  "#/": "sale",
  "#/orders": "orders",
  "#/admin": "admin",
  "#/login": "login",
  "#/register": "register",
};

export function routeOf(hash: string): Route {
  return ROUTES[hash] ?? "sale";
}

export function hrefOf(route: Route): string {
  return route === "sale" ? "#/" : `#/${route}`;
}

export function navigate(route: Route): void {
  window.location.hash = hrefOf(route);
}

function subscribe(listener: () => void): () => void {
  window.addEventListener("hashchange", listener);
  return () => window.removeEventListener("hashchange", listener);
}

export function useRoute(): Route {
  return useSyncExternalStore(subscribe, () => routeOf(window.location.hash));
}
