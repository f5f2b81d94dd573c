-- Every row of an account's books names the account's own user. One foreign key on
-- (account_id, user_id) says so, where two separate ones (the account exists; some user
-- exists) did not: a row can no longer file under another user's account, whichever role
-- writes it (row-level security binds the app role, not the service role or the RI checks).
-- It is also one check per inserted row instead of two, on the order path's hottest inserts.
ALTER TABLE account_books ADD CONSTRAINT account_books_account_owner UNIQUE (account_id, user_id);

ALTER TABLE orders
    DROP CONSTRAINT orders_account_id_fkey,
    DROP CONSTRAINT orders_user_id_fkey,
    ADD CONSTRAINT orders_account_owner FOREIGN KEY (account_id, user_id)
        REFERENCES account_books (account_id, user_id);

ALTER TABLE fills
    DROP CONSTRAINT fills_account_id_fkey,
    DROP CONSTRAINT fills_user_id_fkey,
    ADD CONSTRAINT fills_account_owner FOREIGN KEY (account_id, user_id)
        REFERENCES account_books (account_id, user_id);

ALTER TABLE positions
    DROP CONSTRAINT positions_account_id_fkey,
    DROP CONSTRAINT positions_user_id_fkey,
    ADD CONSTRAINT positions_account_owner FOREIGN KEY (account_id, user_id)
        REFERENCES account_books (account_id, user_id);

ALTER TABLE cash_ledger
    DROP CONSTRAINT cash_ledger_account_id_fkey,
    DROP CONSTRAINT cash_ledger_user_id_fkey,
    ADD CONSTRAINT cash_ledger_account_owner FOREIGN KEY (account_id, user_id)
        REFERENCES account_books (account_id, user_id);

ALTER TABLE equity_snapshots
    DROP CONSTRAINT equity_snapshots_account_id_fkey,
    DROP CONSTRAINT equity_snapshots_user_id_fkey,
    ADD CONSTRAINT equity_snapshots_account_owner FOREIGN KEY (account_id, user_id)
        REFERENCES account_books (account_id, user_id);
