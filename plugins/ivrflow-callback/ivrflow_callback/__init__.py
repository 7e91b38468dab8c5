"""ivrflow plugin: callback requests (回拨登记) — callers the hotline could not serve (queue
too long, after hours, on request) are registered for a callback; staff work the list."""
