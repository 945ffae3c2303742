import createClient, { type Middleware } from "openapi-fetch";
import { apiOrigin } from "../config";
import { session } from "../session";
import type { paths } from "./schema";

export type Api = ReturnType<typeof createClient<paths>>;

/** Every call carries the signed-in user's token; a 401 on an authorised call signs them out. */
const auth: Middleware = {
  onRequest({ request }) {
    const token = session.current()?.token;
    if (token && !request.headers.has("Authorization")) {
      request.headers.set("Authorization", `Bearer ${token}`);
    }
    return request;
  },
  onResponse({ request, response }) {
    if (response.status === 401 && request.headers.has("Authorization")) session.clear();
    return response;
  },
};

export function createApi(apiUrl: string): Api {
  const client = createClient<paths>({ baseUrl: apiOrigin(apiUrl) });
  client.use(auth);
  return client;
}

/** The envelope's message of an error reply, for showing to the user. */
export function messageOf(error: unknown, fallback: string): string {
  if (typeof error === "object" && error !== null && "message" in error) {
    const message = (error as { message: unknown }).message;
    if (typeof message === "string" && message) return message;
  }
  return fallback;
}
