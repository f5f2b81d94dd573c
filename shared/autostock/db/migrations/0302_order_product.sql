-- The product an order trades (stock, etf, ...): its fills' sell tax depends on it (KRX funds
-- pay none), and a fill applied later (reconciliation, the fill listener) has only the order
-- row to go by. Orders placed before this migration were all stock orders as far as their
-- books knew (that is the rate they were booked at), so 'stock' is their honest default.
ALTER TABLE orders ADD COLUMN product text NOT NULL DEFAULT 'stock'
    CHECK (product IN ('stock', 'etf', 'etn', 'elw', 'reit'));
