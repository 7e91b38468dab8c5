"""ivrflow plugin: blacklist (``block``), whitelist (``allow``) and VIP list (``vip``)."""
