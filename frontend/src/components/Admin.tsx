import { useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { messageOf } from "../api/client";
import { formatPrice, type Product, PRODUCTS_KEY, useProducts } from "../products";
import { useShop } from "../shop";
import { useSession } from "./Account";
import { HealthPanel } from "./HealthPanel";

/** A datetime-local value (the admin's own time zone) as an ISO instant, or null if empty. */
function instant(value: FormDataEntryValue | null): string | null {
  return typeof value === "string" && value ? new Date(value).toISOString() : null;
}

function CreateProductForm() {
  const { api } = useShop();
  const queryClient = useQueryClient();
  const [result, setResult] = useState<{ ok: boolean; text: string } | null>(null);

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const formElement = event.currentTarget;
    const form = new FormData(formElement);
    const limit = String(form.get("max_per_user") ?? "");
    const { data, error } = await api.POST("/api/v1/products", {
      body: {
        name: String(form.get("name")),
        price: String(form.get("price") || "0"),
        stock: Number(form.get("stock")),
        starts_at: instant(form.get("starts_at")),
        ends_at: instant(form.get("ends_at")),
        max_per_user: limit ? Number(limit) : null,
      },
    });
    if (error || !data?.data) {
      setResult({ ok: false, text: messageOf(error, "The product could not be created") });
      return;
    }
    setResult({ ok: true, text: `Created ${data.data.name} with ${data.data.stock} in stock.` });
    formElement.reset();
    void queryClient.invalidateQueries({ queryKey: PRODUCTS_KEY });
  }

  return (
    <form className="panel form" aria-labelledby="create-heading" onSubmit={(e) => void onSubmit(e)}>
      <h2 id="create-heading">New product</h2>
      <label>
        Name
        <input name="name" required maxLength={200} />
      </label>
      <div className="row">
        <label>
          Price (USD)
          <input name="price" type="number" min={0} step="0.01" required />
        </label>
        <label>
          Stock
          <input name="stock" type="number" min={0} step={1} required />
        </label>
        <label>
          Limit per customer
          <input name="max_per_user" type="number" min={1} step={1} />
        </label>
      </div>
      <div className="row">
        <label>
          Sale starts
          <input name="starts_at" type="datetime-local" />
        </label>
        <label>
          Sale ends
          <input name="ends_at" type="datetime-local" />
        </label>
      </div>
      <button type="submit">Create product</button>
      {result ? <p role={result.ok ? "status" : "alert"}>{result.text}</p> : null}
    </form>
  );
}

function StockRow({ product }: { product: Product }) {
  const { api } = useShop();
  const queryClient = useQueryClient();
  const [stock, setStock] = useState(String(product.stock));
  const [note, setNote] = useState("");

  async function onSet(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const { data, error } = await api.POST("/api/v1/products/{id}/stock", {
      params: { path: { id: product.product_id } },
      body: { stock: Number(stock) },
    });
    setNote(error || !data?.data ? messageOf(error, "Not saved") : `Saved: ${data.data.stock}`);
    void queryClient.invalidateQueries({ queryKey: PRODUCTS_KEY });
  }

  return (
    <tr>
      <th scope="row">{product.name}</th>
      <td>{formatPrice(product.price)}</td>
      <td>{product.stock}</td>
      <td>
        <form className="inline" onSubmit={(e) => void onSet(e)}>
          <input
            type="number"
            min={0}
            step={1}
            required
            aria-label={`New stock for ${product.name}`}
            value={stock}
            onChange={(e) => setStock(e.target.value)}
          />
          <button type="submit" aria-label={`Set stock for ${product.name}`}>
            Set stock
          </button>
          <span role="status">{note}</span>
        </form>
      </td>
    </tr>
  );
}

function StockTable() {
  const { data: products } = useProducts();
  return (
    <section className="panel" aria-labelledby="stock-heading">
      <h2 id="stock-heading">Stock</h2>
      <div className="table-scroll">
        <table>
          <thead>
            <tr>
              <th scope="col">Product</th>
              <th scope="col">Price</th>
              <th scope="col">In stock</th>
              <th scope="col">Set stock</th>
            </tr>
          </thead>
          <tbody>
            {(products ?? []).map((product) => (
              <StockRow key={product.product_id} product={product} />
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

export function AdminPanel() {
  const user = useSession();
  if (user?.role !== "ADMIN") {
    return (
      <section className="panel">
        <h2>Admin</h2>
        <p>Admins only.</p>
      </section>
    );
  }
  return (
    <div className="admin">
      <HealthPanel />
      <CreateProductForm />
      <StockTable />
    </div>
  );
}
