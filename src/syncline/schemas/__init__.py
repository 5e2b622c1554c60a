"""Wire schemas: msgspec Structs decoded straight from request bytes."""
