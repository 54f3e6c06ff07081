"""What the two account services (clientes, empleados) and the services that
trust their tokens share.

- ``roles``: the roles, defined once; ``emisores``: who issues which token,
  and each issuer's ``TokenIssuer``; ``personal``: the replica of the staff
  and the rule that revokes a staff token (clientes, incidencias_resolucion).
- For the account services: ``cuenta`` (the base of the ``Cliente`` and
  ``Empleado`` aggregates, e-mail normalisation), ``repository`` (their
  storage, with the revision check), ``events`` (their events), ``services``
  (the steps their use cases share: a new account with a free email, the
  password change), ``schemas`` and ``http`` (login and JWKS endpoints).

Each module imports only what it needs; ``roles`` and ``cuenta`` are
standard library only, so domain modules can use them."""
