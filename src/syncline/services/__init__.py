"""Use cases. Each runs in one unit of work; none knows which backend it runs on."""
