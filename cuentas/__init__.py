"""What the two account services (clientes, empleados) and the services that
trust their tokens share.

- ``roles``: the roles, defined once; ``emisores``: who issues which token,
  and each issuer's ``TokenIssuer``; ``personal``: the replica of the staff
  and the rule that revokes a staff token (clientes, incidencias_resolucion).
- For the account services: ``cuenta`` (the base of the ``Cliente`` and
  ``Empleado`` aggregates, e-mail normalisation, the rule that ends the
  sessions opened before a password change), ``enlaces`` (the single-use
  links mailed to an account's owner, and the throttle of those mails),
  ``repository`` (their storage, with the revision check and the mail
  outbox), ``events`` (their events), ``services`` (the steps their use
  cases share: a new account with a free email, the password change, the
  password reset, redeeming a link and saving what it allows, setting a
  password through a link), ``correos`` (the mails both word the same: the
  greeting, the reset link), ``schemas``, ``solicitudes`` (the
  per-address throttle of anonymous reset requests) and ``http`` (login,
  password reset and JWKS endpoints).

Each module imports only what it needs; ``roles`` and ``cuenta`` are
standard library only, so domain modules can use them."""
