pytest_plugins = ["tests.postgres_provider"]
