"""empleados: employee accounts, roles and skills, login and the staff token issuer."""
