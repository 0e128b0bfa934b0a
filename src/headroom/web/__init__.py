"""``headroom serve``: the HTTP APIs (and, next, the web app) over one core."""
