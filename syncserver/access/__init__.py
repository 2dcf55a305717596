"""Who may act: devices and their certificates (``devices``), one-time
enrollment tokens (``enrollment_tokens``) and role-scoped admin tokens (``admin_tokens``)."""
