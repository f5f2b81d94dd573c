"""Notifications: the outbox, and delivery by Telegram, signed webhook and in-app inbox."""
