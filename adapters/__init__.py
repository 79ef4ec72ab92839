"""Adapters: the ports of domain/ implemented on real technology (asyncpg, argon2-cffi, ...)."""
