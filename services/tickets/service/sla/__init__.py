"""SLA clocks in each desk's business time: calendars, clocks, deadlines on the durable scheduler."""
