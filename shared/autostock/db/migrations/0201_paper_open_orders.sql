-- The paper broker's per-order reads find an account's open orders: the expiry sweep before
-- each call, and the means check (cash its open buys hold back, shares its open sells offer).
-- With only (account_id, trade_date) to go by, each of those read every order the account
-- ever placed, so an order cost more with every day of history. Open orders are few and
-- leave this index when they close: the reads stay as cheap on the account's thousandth day
-- as on its first. The statements spell the open states as constants, which the planner
-- needs to prove a partial index applies (a parameter array would not do).
CREATE INDEX paper_orders_open ON paper_orders (account_id, symbol)
    WHERE state IN ('accepted', 'partially_filled');
