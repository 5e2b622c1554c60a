"""The HTTP face: Starlette routes that call services. The only place statuses are chosen."""
