import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { createApi } from "./api/client";
import { serverClock } from "./clock";
import { App } from "./components/App";
import { loadConfig, parseConfig } from "./config";
import "./styles.css";

// Registered before TanStack Query's own listener, so the refetch it triggers on focus
// takes a fresh clock sample.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") serverClock.resync();
});
window.addEventListener("focus", () => serverClock.resync());

const queryClient = new QueryClient({
  defaultOptions: { queries: { retry: 2, staleTime: 1_000 } },
});

async function start() {
  const config = await loadConfig().catch(() => parseConfig({}, window.location));
  const root = document.getElementById("root");
  if (!root) return;
  createRoot(root).render(
    <StrictMode>
      <QueryClientProvider client={queryClient}>
        <App api={createApi(config.apiUrl)} config={config} />
      </QueryClientProvider>
    </StrictMode>,
  );
}

void start();
