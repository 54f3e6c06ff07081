"""clientes: customer accounts, login and the customer token issuer."""
