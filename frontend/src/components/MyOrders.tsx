import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { hrefOf } from "../route";
import { useShop } from "../shop";
import { useSession } from "./Account";

const PAGE_SIZE = 10;

const STATUS_WORDS: Record<string, string> = {
  CONFIRMED: "Confirmed",
  FAILED: "Failed",
  PENDING: "Processing",
};

export function MyOrders() {
  const { api, socketStatus } = useShop();
  const user = useSession();
  const [page, setPage] = useState(1);
  const orders = useQuery({
    queryKey: ["orders", user?.userId, page],
    enabled: user !== null,
    placeholderData: keepPreviousData,
    // Order pushes refresh it while the socket is up; polls do while it is down.
    refetchInterval: socketStatus === "live" ? 30_000 : 5_000,
    queryFn: async () => {
      const { data, error } = await api.GET("/api/v1/orders", {
        params: { query: { page, limit: PAGE_SIZE } },
      });
      if (error || !data?.data) throw new Error("Your orders could not be loaded");
      return data.data;
    },
  });

  if (user === null) {
    return (
      <section className="panel">
        <h2>My orders</h2>
        <p>
          Signed out: <a href={hrefOf("login")}>log in</a> to see your orders.
        </p>
      </section>
    );
  }
  const pages = orders.data ? Math.max(1, Math.ceil(orders.data.total / PAGE_SIZE)) : 1;
  return (
    <section className="panel" aria-labelledby="orders-heading">
      <h2 id="orders-heading">My orders</h2>
      {orders.isPending ? <p role="status">Loading your orders…</p> : null}
      {orders.isError ? <p role="alert">Your orders could not be loaded.</p> : null}
      {orders.data && orders.data.items.length === 0 ? <p>No orders yet.</p> : null}
      {orders.data && orders.data.items.length > 0 ? (
        <div className="table-scroll">
          <table>
            <caption className="sr-only">Your orders, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Product</th>
                <th scope="col">Quantity</th>
                <th scope="col">Status</th>
                <th scope="col">Placed</th>
                <th scope="col">Order</th>
              </tr>
            </thead>
            <tbody>
              {orders.data.items.map((order) => (
                <tr key={order.order_id}>
                  <td>{order.product_name ?? order.product_id}</td>
                  <td>{order.quantity}</td>
                  <td className={`status status--${order.status.toLowerCase()}`}>
                    {STATUS_WORDS[order.status] ?? order.status}
                    {order.reason ? ` (${order.reason.replaceAll("_", " ").toLowerCase()})` : ""}
                  </td>
                  <td>{new Date(order.created_at).toLocaleString()}</td>
                  <td>
                    <code title={order.order_id}>{order.order_id.slice(0, 8)}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <nav className="pager" aria-label="Order pages">
        <button type="button" disabled={page <= 1} onClick={() => setPage(page - 1)}>
          Previous page
        </button>
        <span>
          Page {page} of {pages}
        </span>
        <button type="button" disabled={page >= pages} onClick={() => setPage(page + 1)}>
          Next page
        </button>
      </nav>
    </section>
  );
}
