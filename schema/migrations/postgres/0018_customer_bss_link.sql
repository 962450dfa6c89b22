-- A customer of the hub is linked to at most one customer of the operator's billing system (the
-- BSS's own id, TMF629 `Customer.id`), and a BSS customer to at most one of ours: the customer
-- 360 panel, the care workflows and the bot's self-service read the BSS through this link.
ALTER TABLE customers ADD COLUMN bss_customer_id TEXT;
CREATE UNIQUE INDEX customers_bss_customer ON customers(bss_customer_id);
