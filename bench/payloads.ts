/**
 * Benchmark payloads: deterministic, order-like, built fresh by each factory call.
 */

/** An order event of about 400 bytes of JSON. */
export function orderPayload(n = 0) {
  return {
    orderId: `ord_01JD3K9Q8W7E6R5T4Y3U2I${String(n).padStart(4, "0")}`,
    customerId: "cus_8842",
    status: "confirmed",
    total: 149.9,
    createdAt: "2026-11-26T10:15:00.000Z",
    items: [
      { sku: "SKU-1001", name: "Espresso beans 1kg", qty: 2, unitPrice: 24.5 },
      { sku: "SKU-2002", name: "Milk frother", qty: 1, unitPrice: 100.9 },
    ],
    shipping: {
      method: "express",
      address: { city: "Amsterdam", country: "NL", postcode: "1011AB" },
    },
    paid: true,
  };
}

const CITIES = ["Amsterdam", "København", "Zürich", "Kraków", "Lisboa", "München", "São Paulo"];
const WORDS = [
  "espresso",
  "filter",
  "grinder",
  "kettle",
  "mug",
  "beans",
  "scale",
  "tamper",
  "crème",
];

/** A bulk order of about 10 KB of JSON: 80 lines, with some non-ASCII text. */
export function bulkOrderPayload(n = 0) {
  const items = Array.from({ length: 80 }, (_, i) => ({
    line: i + 1,
    sku: `SKU-${1000 + i * 7}`,
    name: `${WORDS[i % WORDS.length]} ${WORDS[(i * 3) % WORDS.length]} no. ${i}`,
    qty: (i % 5) + 1,
    unitPrice: Math.round((3.5 + i * 1.37) * 100) / 100,
    discount: i % 4 === 0 ? 0.1 : 0,
    giftWrap: i % 6 === 0,
  }));
  return {
    orderId: `ord_bulk_${n}`,
    customerId: "cus_8842",
    status: "confirmed",
    createdAt: "2026-11-26T10:15:00.000Z",
    items,
    shipping: {
      method: "freight",
      address: {
        city: CITIES[n % CITIES.length],
        country: "NL",
        postcode: "1011AB",
        street: "Damrak 1",
      },
    },
    notes: "Deliver to the loading dock at the back; call ahead — ring twice. ".repeat(4),
    totals: { net: 1234.56, tax: 259.26, gross: 1493.82, currency: "EUR" },
  };
}

/** An array of bulk orders of about 1 MiB of JSON. */
export function mebibytePayload() {
  const orders = [];
  let size = 0;
  for (let i = 0; size < 1024 * 1024; i++) {
    const order = bulkOrderPayload(i);
    size += JSON.stringify(order).length + 1;
    orders.push(order);
  }
  return orders;
}
