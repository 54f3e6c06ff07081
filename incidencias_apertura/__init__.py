"""incidencias_apertura: the customer-facing incident API and its replica."""
