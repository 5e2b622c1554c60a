"""Pure rules of syncline's state. Imports only the standard library."""
