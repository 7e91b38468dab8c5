"""ivrflow-survey: a caller satisfaction survey.

* :mod:`ivrflow_survey.node` — the ``survey.ask`` node (exits done / partial / skipped);
* :mod:`ivrflow_survey.store` — the answers table, the background writer and the summary;
* :mod:`ivrflow_survey.api` — the designer API; :mod:`ivrflow_survey.plugin` — start-up.
"""
