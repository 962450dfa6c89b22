-- A message's idempotency key (`channel_message_id`, the client's id) is scoped to its author:
-- unique per (conversation, author kind, author id, key), no longer per (conversation, key), so a
-- customer who sends the ids an agent will use cannot make the agent's messages vanish as
-- "duplicates". Customers, the bot and the system have no author id: '' stands for it. Every
-- stored row satisfied the old, wider uniqueness, so it satisfies the new one.

CREATE UNIQUE INDEX messages_idempotency
    ON messages(conversation_id, author, (COALESCE(author_id, '')), channel_message_id);
ALTER TABLE messages DROP CONSTRAINT messages_conversation_id_channel_message_id_key;
