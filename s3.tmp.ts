import { createSealer } from "./src/index.ts";

const payload = {
  orderId: "ord_01HZX3K9Q8W7E6R5T4Y3U2I1O0",
  customerId: "cus_8842",
  status: "confirmed",
  currency: "EUR",
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
  tags: ["priority", "gift"],
  discount: null,
  paid: true,
};
const sealer = createSealer();
let i = 0;
for (let k = 0; k < 3_000_000; k++)
  sealer({
    producer: "orders",
    stream: "orders",
    seq: i++,
    type: "order.created",
    schema: { name: "order", version: 1 },
    payload,
  });
