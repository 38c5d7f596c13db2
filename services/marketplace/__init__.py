"""Marketplace: Seva-Mitra skilled workers enrolled through vendors, government-fixed rates and bookings."""

SERVICE = "marketplace"
