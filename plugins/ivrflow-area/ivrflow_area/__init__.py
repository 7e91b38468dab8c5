"""ivrflow-area: area routing on the caller's number.

* :mod:`ivrflow_area.numbers` — normalising a number and the longest-prefix lookup;
* :mod:`ivrflow_area.node` — the ``area.route`` node (an exit per region, other, unknown);
* :mod:`ivrflow_area.store` — the editable prefix table; :mod:`ivrflow_area.api` — its API;
  :mod:`ivrflow_area.plugin` — start-up.
"""
