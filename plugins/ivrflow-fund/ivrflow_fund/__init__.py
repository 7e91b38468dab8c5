"""ivrflow's fund-system plugin: the connector (HTTP or demo) and the fund nodes."""
