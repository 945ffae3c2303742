import { useEffect, useRef } from "react";
import { type Product, useProducts, useServerNow } from "../products";
import { useShop } from "../shop";
import { ProductCard } from "./ProductCard";

/** Announces stock changes (from pushes or polls) to screen readers, once per change. */
function useStockAnnouncements(products: Product[] | undefined): void {
  const { announce } = useShop();
  const previous = useRef<Map<string, number> | null>(null);
  useEffect(() => {
    if (!products) return;
    const before = previous.current;
    previous.current = new Map(products.map((p) => [p.product_id, p.stock]));
    if (before === null) return;
    const changes = products
      .filter((p) => before.has(p.product_id) && before.get(p.product_id) !== p.stock)
      .map((p) => (p.stock > 0 ? `${p.name}: ${p.stock} left` : `${p.name}: sold out`));
    if (changes.length) announce(changes.join(". "));
  }, [products, announce]);
}

/** The most stock each product has had while the page was open: the bars' full length. */
function usePeaks(products: Product[] | undefined): Map<string, number> {
  const peaks = useRef(new Map<string, number>());
  for (const p of products ?? []) {
    peaks.current.set(p.product_id, Math.max(p.stock, peaks.current.get(p.product_id) ?? 0));
  }
  return peaks.current;
}

export function SaleGrid() {
  const { data: products, isPending, isError, refetch } = useProducts();
  const now = useServerNow();
  useStockAnnouncements(products);
  const peaks = usePeaks(products);

  if (isPending) return <p role="status">Loading the sale…</p>;
  if (isError && !products) {
    return (
      <p role="alert">
        The sale could not be loaded. <button onClick={() => void refetch()}>Try again</button>
      </p>
    );
  }
  return (
    <section aria-labelledby="sale-heading">
      <h2 id="sale-heading">On sale now</h2>
      {products.length === 0 ? <p>Nothing on sale yet.</p> : null}
      <div className="grid">
        {products.map((product) => (
          <ProductCard
            key={product.product_id}
            product={product}
            now={now}
            peakStock={peaks.get(product.product_id) ?? product.stock}
          />
        ))}
      </div>
    </section>
  );
}
