"""Notify: SMS and voice alerts in Hindi and Bengali through Twilio: templates, due lists and campaigns."""

SERVICE = "notify"
