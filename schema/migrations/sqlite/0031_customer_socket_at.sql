-- When a web chat customer's socket last opened, on any node (Unix ms; written only when the hub
-- runs several nodes). A node whose own socket for the chat closed abandons the chat only if no
-- socket opened anywhere since: a customer who came back on another node is not abandoned.
ALTER TABLE conversations ADD COLUMN customer_socket_at BIGINT;
