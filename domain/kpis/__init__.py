"""Service KPIs computed from the recorded events (never typed in): definitions, targets, and the figures."""
