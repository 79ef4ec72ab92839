"""Values that tests in several folders agree on."""

from domain.client import Client

PASSWORD = "correct horse battery staple"

# Real argon2id at the lowest cost: the real adapter, a millisecond per hash. As Settings fields
# (for load_settings) and as the environment of a `sessionauth` process.
FAST_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_cost": 8, "argon2_parallelism": 1}
CHEAP_ARGON2 = {"ARGON2_TIME_COST": "1", "ARGON2_MEMORY_COST": "1024", "ARGON2_PARALLELISM": "1"}

# The session policy (idle, absolute, in seconds) and the client of the unit tests' World.
IDLE, ABSOLUTE = 600, 3600
HOME = Client(address="192.0.2.1", user_agent="home browser")


# What the proxy examples in docker/ route to sessionauth itself (PUBLIC) and what they leave to
# the application behind forward auth (NOT_PUBLIC), for the config checks and the proxy suite.
PUBLIC_PATHS = [
    "/signup",
    "/login",
    "/logout",
    "/password",
    "/getusers/me",
    "/sessions",
    "/sessions/0b6c2a3e-1f",
    "/password/forgot",
    "/password/reset",
    "/email",
    "/email/verify",
    "/email/verify/resend",
    "/account",
    "/ui",
    "/ui/",
    "/ui/login",
    "/ui/forgot-password",
    "/ui/reset-password",
    "/ui/verify-email",
    "/ui/email",
    "/ui/static/ui.css",
]
NOT_PUBLIC_PATHS = [
    "/healthz",
    "/readyz",
    "/metrics",
    "/docs",
    "/openapi.json",
    "/auth/verify",
    "/protected",
    "/",
    "/sessionsx",
    "/app/login",
    "/sessions/a/b",
    "/password/x",
    "/password/forgot/x",
    "/emailx",
    "/email/x",
    "/email/verify/resend/x",
    "/accounts",
    "/account/x",
    "/uix",
    "/uis/login",
]
