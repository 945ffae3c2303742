import { useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import type { Api } from "../api/client";
import type { ShopConfig } from "../config";
import { applyStockPush } from "../products";
import { LiveSocket, type LiveMessage, type SocketStatus } from "../realtime";
import { hrefOf, type Route, useRoute } from "../route";
import { session } from "../session";
import { type Shop, ShopContext } from "../shop";
import { AccountBar, LoginForm, RegisterForm, useSession } from "./Account";
import { AdminPanel } from "./Admin";
import { HEALTH_KEY } from "./HealthPanel";
import { MyOrders } from "./MyOrders";
import { SaleGrid } from "./SaleGrid";

/** The socket for the app's lifetime, reconnected when the signed-in user changes. */
function useLiveSocket(url: string, onMessage: (message: LiveMessage) => void): SocketStatus {
  const [status, setStatus] = useState<SocketStatus>("connecting");
  const handler = useRef(onMessage);
  handler.current = onMessage;
  const user = useSession();
  const socket = useRef<LiveSocket | null>(null);
  useEffect(() => {
    const live = new LiveSocket({
      url,
      token: () => session.current()?.token ?? null,
      onMessage: (message) => handler.current(message),
      onStatus: setStatus,
    });
    socket.current = live;
    live.start();
    return () => live.stop();
  }, [url]);
  const token = user?.token;
  const firstToken = useRef(token);
  useEffect(() => {
    if (token !== firstToken.current) socket.current?.restart();
    firstToken.current = token;
  }, [token]);
  return status;
}

function Nav({ route }: { route: Route }) {
  const user = useSession();
  const links: [Route, string][] = [
    ["sale", "Sale"],
    ["orders", "My orders"],
  ];
  if (user?.role === "ADMIN") links.push(["admin", "Admin"]);
  return (
    <nav aria-label="Main">
      {links.map(([target, label]) => (
        <a key={target} href={hrefOf(target)} aria-current={route === target ? "page" : undefined}>
          {label}
        </a>
      ))}
    </nav>
  );
}

function Page({ route }: { route: Route }) {
  switch (route) {
    case "sale":
      return <SaleGrid />;
    case "orders":
      return <MyOrders />;
    case "admin":
      return <AdminPanel />;
    case "login":
      return <LoginForm />;
    case "register":
      return <RegisterForm />;
  }
}

export function App({ api, config }: { api: Api; config: ShopConfig }) {
  const queryClient = useQueryClient();
  const route = useRoute();
  const [announcement, setAnnouncement] = useState("");

  const onMessage = useCallback(
    (message: LiveMessage) => {
      if (message.type === "stock") applyStockPush(queryClient, message);
      else if (message.type === "health") queryClient.setQueryData(HEALTH_KEY, message.services);
      else void queryClient.invalidateQueries({ queryKey: ["orders"] });
    },
    [queryClient],
  );
  const socketStatus = useLiveSocket(config.wsUrl, onMessage);
  const announce = useCallback((text: string) => setAnnouncement(text), []);
  const shop = useMemo<Shop>(
    () => ({ api, config, socketStatus, announce }),
    [api, config, socketStatus, announce],
  );

  return (
    <ShopContext.Provider value={shop}>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <a className="brand" href={hrefOf("sale")}>
          Vendyz <span>Flash Sale</span>
        </a>
        <Nav route={route} />
        <AccountBar />
      </header>
      <p className={`live-status live-status--${socketStatus}`}>
        {socketStatus === "live" ? "Live updates on" : "Updating every few seconds"}
      </p>
      <main id="main" tabIndex={-1}>
        <Page route={route} />
      </main>
      <div className="sr-only" aria-live="polite" aria-atomic="true" data-testid="announcer">
        {announcement}
      </div>
    </ShopContext.Provider>
  );
}
