import { createContext, useContext } from "react";
import type { Api } from "./api/client";
import type { ShopConfig } from "./config";
import type { SocketStatus } from "./realtime";

/** What every part of the shop shares: the API client, the config and the socket's state. */
export interface Shop {
  api: Api;
  config: ShopConfig;
  socketStatus: SocketStatus;
  announce: (text: string) => void;
}

export const ShopContext = createContext<Shop | null>(null);

export function useShop(): Shop {
  const shop = useContext(ShopContext);
  if (shop === null) throw new Error("useShop outside <ShopContext>");
  return shop;
}
