"""ivrflow-sms: send an SMS from a flow without delaying the call.

* :mod:`ivrflow_sms.node` — the ``sms.send`` node (exits queued / invalid_number / error);
* :mod:`ivrflow_sms.gateway` — the gateway interface, the HTTP gateway and the log sink;
* :mod:`ivrflow_sms.store` — the ``sms_message`` table and the outbox (queue, worker thread,
  retries with back-off, records);
* :mod:`ivrflow_sms.api` — the designer API; :mod:`ivrflow_sms.plugin` — start-up.
"""
