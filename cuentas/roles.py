"""The roles of the people who use the system, defined once."""
from __future__ import annotations

CLIENTE = "cliente"
AGENTE = "agente"
SUPERVISOR = "supervisor"
ADMIN = "admin"

ROLES_CLIENTE = (CLIENTE,)
ROLES_PERSONAL = (AGENTE, SUPERVISOR, ADMIN)
"""Staff roles, from the least to the most powerful."""
ROLES_GESTION = (SUPERVISOR, ADMIN)
"""Staff who may act on and assign anyone's incidents."""
ROLES_ASIGNABLES = (AGENTE, SUPERVISOR)
"""Roles that receive incidents automatically, in order of preference (admins never do)."""
